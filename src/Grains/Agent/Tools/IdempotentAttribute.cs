namespace Agents.Grains.Agent.Tools;

/// <summary>
/// Marks a tool that may safely run again with the same call id: after a crash in the middle of such a call
/// the conversation runs it again instead of reporting it as interrupted.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class IdempotentAttribute : Attribute;
