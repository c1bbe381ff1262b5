using System.ComponentModel;
using Microsoft.SemanticKernel;

namespace Agents.Grains.Agent.Tools;

/// <summary>
/// <c>ask_user</c>: the conversation turns a call of it into an <c>input.requested</c> of kind <c>question</c>,
/// and the user's answer becomes its result. The method itself never runs inside a conversation.
/// </summary>
public sealed class UserInputPlugin
{
    public const string PluginName = "agent";
    public const string AskUser = "ask_user";

    [KernelFunction(AskUser)]
    [Description("Ask the user a question and wait for the answer. Use it when only the user can decide.")]
    [return: Description("The user's answer.")]
    public string Ask([Description("The question to show the user.")] string question) =>
        throw new InvalidOperationException($"{AskUser} is answered by the user through the conversation, not invoked.");
}
