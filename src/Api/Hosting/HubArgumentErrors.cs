using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.ExceptionServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Agents.Api.Hosting;

/// <summary>
/// Hub arguments that do not fit a method's parameters (a number where a string goes, an array where an object
/// goes, too few arguments, a lone surrogate in a string) are refused before any hub filter runs, so
/// <c>ConversationErrorsFilter</c> never sees them, and SignalR tells the client only "Failed to invoke 'X'".
/// SignalR does pass a <see cref="HubException"/>'s message on, so the JSON protocol is wrapped to turn each
/// binding failure into one that reads <c>invalid_argument: …</c>, as the contract's errors do.
/// </summary>
public static class HubArgumentErrors
{
    /// <summary>Replaces the registered JSON hub protocol with one whose binding failures carry <c>invalid_argument</c>.</summary>
    public static ISignalRServerBuilder AddArgumentErrorCodes(this ISignalRServerBuilder signalR)
    {
        var services = signalR.Services;
        var json = services.FirstOrDefault(d => d.ServiceType == typeof(IHubProtocol) && d.ImplementationType == typeof(JsonHubProtocol))
            ?? throw new InvalidOperationException("Call AddJsonProtocol before AddArgumentErrorCodes.");
        services.Remove(json);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHubProtocol, InvalidArgumentProtocol>());
        return signalR;
    }

    /// <summary>The message a client sees for arguments that do not fit <paramref name="target"/>.</summary>
    public static string Describe(string target, Exception bindingFailure)
    {
        // The innermost message says what did not fit (JSON path, argument count) without echoing the value.
        var reason = bindingFailure;
        while (reason.InnerException is not null)
        {
            reason = reason.InnerException;
        }

        return $"{ErrorCodes.InvalidArgument}: the arguments do not fit '{target}': {reason.Message}";
    }

    private sealed class InvalidArgumentProtocol(IOptions<JsonHubProtocolOptions> options) : IHubProtocol
    {
        private readonly JsonHubProtocol _inner = new(options);

        public string Name => _inner.Name;

        public int Version => _inner.Version;

        public TransferFormat TransferFormat => _inner.TransferFormat;

        public bool TryParseMessage(ref ReadOnlySequence<byte> input, IInvocationBinder binder, [NotNullWhen(true)] out HubMessage? message)
        {
            if (!_inner.TryParseMessage(ref input, binder, out message))
            {
                return false;
            }

            if (message is InvocationBindingFailureMessage failure && failure.BindingFailure.SourceException is not HubException)
            {
                var refusal = new HubException(Describe(failure.Target, failure.BindingFailure.SourceException));
                message = new InvocationBindingFailureMessage(failure.InvocationId, failure.Target, ExceptionDispatchInfo.Capture(refusal));
            }

            return true;
        }

        public void WriteMessage(HubMessage message, IBufferWriter<byte> output) => _inner.WriteMessage(message, output);

        public ReadOnlyMemory<byte> GetMessageBytes(HubMessage message) => _inner.GetMessageBytes(message);

        public bool IsVersionSupported(int version) => _inner.IsVersionSupported(version);
    }
}
