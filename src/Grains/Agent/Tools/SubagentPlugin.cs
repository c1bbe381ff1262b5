using System.ComponentModel;
using Microsoft.SemanticKernel;

namespace Agents.Grains.Agent.Tools;

/// <summary>
/// <c>start_subagents</c>: the conversation turns a call of it into child conversations, one per task, that run in
/// parallel; their outcomes, once all have ended, are its result. The method itself never runs inside a conversation.
/// </summary>
public sealed class SubagentPlugin
{
    public const string StartSubagents = "start_subagents";

    [KernelFunction(StartSubagents)]
    [Description(
        "Split work into independent tasks and run each as a sub-agent in parallel, with the same tools. " +
        "Returns, when all have finished, each task's outcome and final report.")]
    [return: Description("For each task: childId, title, outcome (completed, failed, cancelled) and text (its final report).")]
    public string Start([Description("The tasks, each with a short title and a self-contained prompt.")] SubagentTask[] tasks) =>
        throw new InvalidOperationException($"{StartSubagents} is run by the conversation, not invoked.");
}

/// <summary>One task of <c>start_subagents</c>.</summary>
/// <param name="Title">A short label for the task.</param>
/// <param name="Prompt">What the sub-agent is asked; it sees nothing else of the parent's conversation.</param>
public sealed record SubagentTask(
    [property: Description("A short label for the task.")] string Title,
    [property: Description("A self-contained instruction: the sub-agent sees nothing else.")] string Prompt);
