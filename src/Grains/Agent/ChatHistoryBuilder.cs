using System.Text.Json;
using Agents.Events;
using Agents.Grains.Conversations;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;

namespace Agents.Grains.Agent;

/// <summary>Builds the model's context from the conversation's state, which is a fold of its log.</summary>
internal static class ChatHistoryBuilder
{
    public static ChatHistory Build(ConversationState state, string systemPrompt)
    {
        var history = new ChatHistory(systemPrompt);
        foreach (var item in state.History)
        {
            switch (item)
            {
                case UserItem user:
                    history.AddUserMessage(user.Text);
                    break;

                case AssistantItem assistant:
                    var message = new ChatMessageContent(AuthorRole.Assistant, assistant.Text);
                    foreach (var call in assistant.Calls)
                    {
                        var (plugin, function) = ToolNames.Split(call.Name);
                        message.Items.Add(new FunctionCallContent(function, plugin, call.CallId, ParseArguments(call.Arguments)));
                    }

                    history.Add(message);
                    break;

                case ToolResultItem result:
                    var (resultPlugin, resultFunction) = ToolNames.Split(result.Name);
                    var content = result.Error is { } error
                        ? JsonSerializer.Serialize(new { error = error.Code, message = error.Message })
                        : result.Result ?? "null";
                    history.Add(new ChatMessageContent(AuthorRole.Tool, [new FunctionResultContent(resultFunction, resultPlugin, result.CallId, content)]));
                    break;
            }
        }

        // Messages sent during the last step come last: the model answers them now.
        foreach (var user in state.ActiveRun?.Deferred.OfType<UserItem>() ?? [])
        {
            history.AddUserMessage(user.Text);
        }

        return history;
    }

    /// <summary>A JSON object's members as kernel arguments; strings as strings, anything else as its JSON.</summary>
    public static KernelArguments ParseArguments(string json)
    {
        var arguments = new KernelArguments();
        using var document = JsonDocument.Parse(json);
        foreach (var property in document.RootElement.EnumerateObject())
        {
            arguments[property.Name] = property.Value.ValueKind switch
            {
                JsonValueKind.String => property.Value.GetString(),
                JsonValueKind.Null => null,
                _ => property.Value.Clone(),
            };
        }

        return arguments;
    }
}

/// <summary>Tool names as the model sees them: <c>Plugin-function</c>.</summary>
public static class ToolNames
{
    public static (string? Plugin, string Function) Split(string name)
    {
        var dash = name.LastIndexOf('-');
        return dash < 0 ? (null, name) : (name[..dash], name[(dash + 1)..]);
    }

    /// <summary>The function's name without its plugin prefix: what policies and clients match on.</summary>
    public static string ShortName(string name) => Split(name).Function;
}
