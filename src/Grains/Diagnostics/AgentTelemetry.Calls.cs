using System.Diagnostics;
using Agents.Events;

namespace Agents.Grains.Diagnostics;

public static partial class AgentTelemetry
{
    /// <summary>The span and metrics of one model call, from its start to its end.</summary>
    internal static ModelCallTelemetry StartModelCall(TimeProvider time, string conversationId, string model) =>
        new(time, conversationId, model);

    /// <summary>The span and duration of one tool call; disposing ends both, however the call ended.</summary>
    internal static ToolCallTelemetry StartToolCall(TimeProvider time, string conversationId, string callId, string name) =>
        new(time, conversationId, callId, name);

    internal sealed class ModelCallTelemetry : IDisposable
    {
        private readonly TimeProvider _time;
        private readonly long _started;
        private readonly KeyValuePair<string, object?> _model;
        private readonly Activity? _activity;
        private bool _firstChunk = true;

        public ModelCallTelemetry(TimeProvider time, string conversationId, string model)
        {
            (_time, _started, _model) = (time, time.GetTimestamp(), new("gen_ai.request.model", model));
            _activity = Source.StartActivity($"chat {model}", ActivityKind.Client);
            _activity?.SetTag("gen_ai.operation.name", "chat");
            _activity?.SetTag("gen_ai.request.model", model);
            _activity?.SetTag("conversation.id", conversationId);
        }

        /// <summary>How long the call has been going.</summary>
        public TimeSpan Elapsed => _time.GetElapsedTime(_started);

        public void Chunk()
        {
            if (_firstChunk)
            {
                _firstChunk = false;
                TimeToFirstToken.Record(Elapsed.TotalSeconds, _model);
            }
        }

        public void Completed(TokenUsage? usage)
        {
            ModelDuration.Record(Elapsed.TotalSeconds, _model);
            if (usage is not null)
            {
                _activity?.SetTag("gen_ai.usage.input_tokens", usage.InputTokens);
                _activity?.SetTag("gen_ai.usage.output_tokens", usage.OutputTokens);
                Tokens.Add(usage.InputTokens, _model, new("gen_ai.token.type", "input"));
                Tokens.Add(usage.OutputTokens, _model, new("gen_ai.token.type", "output"));
            }
        }

        public void Failed(string code)
        {
            _activity?.SetStatus(ActivityStatusCode.Error, code);
            _activity?.SetTag("error.type", code);
        }

        public void Dispose() => _activity?.Dispose();
    }

    internal readonly struct ToolCallTelemetry : IDisposable
    {
        private readonly TimeProvider _time;
        private readonly long _started;
        private readonly string _name;
        private readonly Activity? _activity;

        public ToolCallTelemetry(TimeProvider time, string conversationId, string callId, string name)
        {
            (_time, _started, _name) = (time, time.GetTimestamp(), name);
            _activity = Source.StartActivity($"execute_tool {Agent.ToolNames.ShortName(name)}");
            _activity?.SetTag("gen_ai.operation.name", "execute_tool");
            _activity?.SetTag("gen_ai.tool.name", name);
            _activity?.SetTag("gen_ai.tool.call.id", callId);
            _activity?.SetTag("conversation.id", conversationId);
        }

        public void Dispose()
        {
            ToolDuration.Record(_time.GetElapsedTime(_started).TotalSeconds, new KeyValuePair<string, object?>("gen_ai.tool.name", _name));
            _activity?.Dispose();
        }
    }
}
