using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Agents.Grains.Agent.Tools;
using Microsoft.SemanticKernel;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Agents.Grains.Agent.Mcp;

/// <summary>Turns the tools an MCP server lists into kernel functions the conversation can offer and invoke.</summary>
internal static partial class McpToolFunctions
{
    /// <summary>OpenAI's limit on a tool's name, which for us is <c>Plugin-function</c>.</summary>
    public const int MaxToolNameLength = 64;

    /// <summary>
    /// A name the kernel and our <c>Plugin-function</c> convention accept: letters, digits and underscores
    /// (a dash would split the name in the wrong place).
    /// </summary>
    public static string Sanitize(string name)
    {
        var safe = UnsafeCharacters().Replace(name, "_");
        return safe.Length == 0 ? "_" : safe;
    }

    /// <summary>One function per tool; a tool that cannot be offered is skipped and reported.</summary>
    public static List<KernelFunction> Create(
        McpClient client,
        McpToolPlugin plugin,
        McpServerOptions server,
        IEnumerable<McpClientTool> tools,
        Action<string, string> skipped)
    {
        var functions = new List<KernelFunction>();
        var used = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var tool in tools)
        {
            var name = Sanitize(tool.Name);
            for (var n = 2; !used.Add(name); n++)
            {
                name = $"{Sanitize(tool.Name)}_{n}";
            }

            if (plugin.Name.Length + 1 + name.Length > MaxToolNameLength)
            {
                skipped(tool.Name, $"'{plugin.Name}-{name}' is longer than the {MaxToolNameLength} characters a tool name may have");
                continue;
            }

            try
            {
                var invoker = new McpToolInvoker(client, tool.Name);
                var annotations = tool.ProtocolTool.Annotations;
                var idempotent = server.TrustAnnotations && (annotations?.ReadOnlyHint == true || annotations?.IdempotentHint == true);
                var method = idempotent ? McpToolInvoker.IdempotentMethod : McpToolInvoker.Method;
                var function = KernelFunctionFactory.CreateFromMethod(method, invoker, new KernelFunctionFromMethodOptions
                {
                    FunctionName = name,
                    Description = tool.Description ?? tool.Title ?? "",
                    Parameters = ParametersOf(tool.JsonSchema),
                    ReturnParameter = new KernelReturnParameterMetadata { Description = "The tool's result." },
                });
                functions.Add(function.Clone(plugin.Name));
            }
            catch (Exception ex) when (ex is ArgumentException or JsonException or InvalidOperationException)
            {
                skipped(tool.Name, ex.Message);
            }
        }

        return functions;
    }

    /// <summary>The input schema's properties as parameters, each keeping its own schema.</summary>
    private static List<KernelParameterMetadata> ParametersOf(JsonElement schema)
    {
        var parameters = new List<KernelParameterMetadata>();
        if (schema.ValueKind != JsonValueKind.Object || !schema.TryGetProperty("properties", out var properties) || properties.ValueKind != JsonValueKind.Object)
        {
            return parameters;
        }

        var required = schema.TryGetProperty("required", out var list) && list.ValueKind == JsonValueKind.Array
            ? list.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!).ToHashSet(StringComparer.Ordinal)
            : [];
        foreach (var property in properties.EnumerateObject())
        {
            parameters.Add(new KernelParameterMetadata(property.Name)
            {
                Description = property.Value.ValueKind == JsonValueKind.Object && property.Value.TryGetProperty("description", out var d) && d.ValueKind == JsonValueKind.String
                    ? d.GetString()
                    : null,
                IsRequired = required.Contains(property.Name),
                Schema = KernelJsonSchema.Parse(property.Value.GetRawText()),
            });
        }

        return parameters;
    }

    [GeneratedRegex("[^A-Za-z0-9_]")]
    private static partial Regex UnsafeCharacters();
}

/// <summary>Calls one tool of one server. Two entry points, so the idempotent one can carry <see cref="IdempotentAttribute"/>.</summary>
internal sealed class McpToolInvoker(McpClient client, string toolName)
{
    /// <summary>Where the call id goes in the request's <c>_meta</c>, for servers that want an idempotency key.</summary>
    public const string CallIdMetaKey = "agents/callId";

    public static readonly System.Reflection.MethodInfo Method = typeof(McpToolInvoker).GetMethod(nameof(InvokeAsync))!;

    public static readonly System.Reflection.MethodInfo IdempotentMethod = typeof(McpToolInvoker).GetMethod(nameof(InvokeIdempotentAsync))!;

    public Task<object?> InvokeAsync(KernelArguments arguments, CancellationToken cancellationToken) => CallAsync(arguments, cancellationToken);

    [Idempotent]
    public Task<object?> InvokeIdempotentAsync(KernelArguments arguments, CancellationToken cancellationToken) => CallAsync(arguments, cancellationToken);

    private async Task<object?> CallAsync(KernelArguments arguments, CancellationToken cancellationToken)
    {
        // The conversation passes the call id among the arguments; the server gets it in _meta instead.
        var values = arguments
            .Where(a => a.Key != ToolCall.CallIdArgument)
            .ToDictionary(a => a.Key, a => a.Value, StringComparer.Ordinal);
        var options = ToolCall.IdOf(arguments) is { } callId
            ? new RequestOptions { Meta = new JsonObject { [CallIdMetaKey] = callId } }
            : null;
        CallToolResult result;
        try
        {
            result = await client.CallToolAsync(toolName, values, options: options, cancellationToken: cancellationToken);
        }
        catch (McpException ex)
        {
            throw new McpToolException($"The MCP server refused the call: {ex.Message}", ex);
        }

        if (result.IsError == true)
        {
            throw new McpToolException(TextOf(result.Content) is { Length: > 0 } text ? text : $"The MCP tool {toolName} reported an error.");
        }

        if (result.StructuredContent is { } structured)
        {
            return structured;
        }

        return result.Content switch
        {
            [] => null,
            [TextContentBlock only] => JsonOrText(only.Text),
            var blocks => TextOf(blocks),
        };
    }

    /// <summary>Text that is a JSON object or array goes to the model as JSON, not as a quoted string.</summary>
    private static object JsonOrText(string text)
    {
        var trimmed = text.AsSpan().Trim();
        if (trimmed.Length > 0 && trimmed[0] is '{' or '[')
        {
            try
            {
                using var document = JsonDocument.Parse(text);
                return document.RootElement.Clone();
            }
            catch (JsonException)
            {
            }
        }

        return text;
    }

    private static string TextOf(IEnumerable<ContentBlock> blocks) => string.Join("\n", blocks.Select(block => block switch
    {
        TextContentBlock text => text.Text,
        EmbeddedResourceBlock { Resource: TextResourceContents resource } => resource.Text,
        EmbeddedResourceBlock { Resource: var resource } => $"[resource {resource.Uri} ({resource.MimeType})]",
        ResourceLinkBlock link => $"[resource link {link.Uri}: {link.Name}]",
        ImageContentBlock image => $"[image ({image.MimeType})]",
        AudioContentBlock audio => $"[audio ({audio.MimeType})]",
        _ => $"[{block.Type}]",
    }));
}

/// <summary>An MCP tool's own error; the conversation records its message as the call's <c>tool_error</c>.</summary>
internal sealed class McpToolException(string message, Exception? inner = null) : Exception(message, inner);
