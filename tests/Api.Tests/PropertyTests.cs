using System.Diagnostics;
using System.Net.Http.Json;
using Agents.Api.Conversations;
using Agents.Api.Hosting;
using Agents.Events;
using Agents.Grains.Storage;
using Agents.Grains.Tests;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;

namespace Agents.Api.Tests;

/// <summary>
/// Random sequences of what clients do (send, answer, cancel, watch, drop a watch, watch again from the last seq
/// seen) and of the node being killed and started again, against a few conversations of the real app running in its
/// own process, through the .NET SignalR client. After each sequence every invariant of the contract holds for the
/// stored log and for every client. Seeded and replayable: a failure names the seed and lists the operations.
/// <c>AGENTS_PROPERTY_SEED</c>, <c>AGENTS_PROPERTY_SEQUENCES</c> and <c>AGENTS_PROPERTY_OPERATIONS</c> (the most
/// operations in a sequence) run other or longer searches.
/// </summary>
public sealed class PropertyTests
{
    private const int DefaultSeed = 20261127;
    private const int DefaultSequences = 20;
    private const int DefaultOperations = 15;

    // Every so many sequences, one has the node killed and started again at a random point: a restart costs seconds.
    private const int RestartEvery = 7;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(45);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task RandomClientOperationsAndRestarts_KeepEveryInvariantOfTheContract_ForEveryClient()
    {
        var seed = FromEnvironment("AGENTS_PROPERTY_SEED") ?? DefaultSeed;
        var sequences = FromEnvironment("AGENTS_PROPERTY_SEQUENCES") ?? DefaultSequences;
        var maxOperations = Math.Max(10, FromEnvironment("AGENTS_PROPERTY_OPERATIONS") ?? DefaultOperations);

        await using var node = new Node();
        await node.StartAsync();
        var stopwatch = Stopwatch.StartNew();
        var operations = 0;
        for (var i = 0; i < sequences; i++)
        {
            // Each sequence has its own seed, so one can be replayed alone (on a fresh node, so not always identically).
            var sequenceSeed = seed + i;
            var random = new Random(sequenceSeed);
            await using var sequence = new Sequence(node, random);
            try
            {
                var count = random.Next(10, maxOperations + 1);
                await sequence.RunAsync(count, restartAt: i % RestartEvery == RestartEvery - 1 ? random.Next(count) : null);
                await sequence.SettleAndCheckAsync();
                operations += sequence.Operations;
            }
            catch (Exception ex)
            {
                Assert.Fail(
                    $"Sequence {i} of seed {seed} failed; replay it with AGENTS_PROPERTY_SEED={sequenceSeed} AGENTS_PROPERTY_SEQUENCES=1.\n"
                    + $"Operations:\n  {string.Join("\n  ", sequence.Trace)}\n{ex}");
            }
        }

        TestContext.Current.TestOutputHelper?.WriteLine(
            $"seed {seed}: {sequences} sequences, {operations} operations, {node.Restarts} restarts in {stopwatch.Elapsed.TotalSeconds:0} s "
            + $"({node.Starting.TotalSeconds:0} s of it starting the node)");
    }

    private static int? FromEnvironment(string name) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out var value) ? value : null;

    /// <summary>The app in its own process on one SQLite file, killed and started again on demand.</summary>
    private sealed class Node : IAsyncDisposable
    {
        private readonly string _directory = TestEnvironment.NewTempDirectory();
        private readonly Dictionary<string, string> _settings;
        private readonly Dictionary<string, string> _tokens = [];
        private ApiProcess? _process;

        public Node()
        {
            _settings = new Dictionary<string, string>
            {
                // Tokens outlive a restart, as they do with a configured key.
                ["Auth__SigningKey"] = $"{Guid.NewGuid():N}{Guid.NewGuid():N}",
                // Fast enough that runs end within a sequence, slow enough that operations land mid-run.
                ["Llm__DemoTokensPerSecond"] = "150",
                ["Llm__DemoToolLatency"] = "00:00:00.050",
            };
            Store = SiloProcess.OpenStore(_directory);
        }

        public SqliteEventStore Store { get; }

        public int Restarts { get; private set; }

        /// <summary>Time spent starting the node, the first start included.</summary>
        public TimeSpan Starting { get; private set; }

        public Uri BaseAddress => _process!.BaseAddress;

        public async Task StartAsync()
        {
            // Fresh ports each time: the killed process's may linger a moment.
            _settings["Orleans__SiloPort"] = TestEnvironment.FreePort().ToString();
            _settings["Orleans__GatewayPort"] = TestEnvironment.FreePort().ToString();
            var stopwatch = Stopwatch.StartNew();
            _process = await ApiProcess.StartAsync(_directory, TestEnvironment.FreePort(), _settings, Ct);
            Starting += stopwatch.Elapsed;
        }

        public async Task KillAsync()
        {
            await _process!.KillAsync();
            await _process.DisposeAsync();
            Restarts++;
        }

        public async Task<HubConnection> ConnectAsync(string user)
        {
            if (!_tokens.TryGetValue(user, out var token))
            {
                using var http = new HttpClient { BaseAddress = BaseAddress };
                token = _tokens[user] = await DevTokens.FetchAsync(http, user, Ct);
            }

            var hub = new HubConnectionBuilder()
                .WithUrl(new Uri(BaseAddress, "/hubs/agent"), o => o.AccessTokenProvider = () => Task.FromResult<string?>(token))
                .AddJsonProtocol(o => ApiJson.Configure(o.PayloadSerializerOptions))
                .Build();
            await hub.StartAsync(Ct);
            return hub;
        }

        public async ValueTask DisposeAsync()
        {
            if (_process is not null)
            {
                await _process.DisposeAsync();
            }

            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private enum Kind
    {
        Open,
        Answered,
        Void,
    }

    private sealed record Sent(string ConversationId, string Text, string? ClientMessageId, long Seq);

    /// <summary>An answer: its seq, or null when it was refused with <c>conflict</c>.</summary>
    private sealed record Answered(string ConversationId, string RequestId, bool? Approved, string? Text, long? Seq);

    private sealed record Watching(int Client, ResumingWatcher Watcher);

    /// <summary>One user with two connected clients and two conversations, doing random things.</summary>
    private sealed class Sequence(Node node, Random random) : IAsyncDisposable
    {
        private const int Clients = 2;
        private const int MaxWatchers = 8;
        private readonly string _user = TestEnvironment.NewUser("prop");
        private readonly List<HubConnection> _clients = [];
        private readonly List<string> _conversations = [];
        private readonly List<Watching> _watchers = [];
        private readonly List<Sent> _sent = [];
        private readonly List<Answered> _answers = [];
        private readonly Lock _lock = new();

        public List<string> Trace { get; } = [];

        public int Operations { get; private set; }

        public async Task RunAsync(int operations, int? restartAt)
        {
            for (var i = 0; i < Clients; i++)
            {
                _clients.Add(await node.ConnectAsync(_user));
            }

            for (var i = 0; i < 2; i++)
            {
                var text = random.Next(2) == 0 ? NewText(random) : null;
                var info = await _clients[0].InvokeAsync<ConversationInfo>("CreateConversation", new CreateConversation(Text: text), Ct);
                _conversations.Add(info.Id);
                Trace.Add($"create c{i} {info.Id} {(text is null ? "idle" : $"\"{text}\"")}");
                if (text is not null)
                {
                    _sent.Add(new Sent(info.Id, text, null, 1));
                }

                Watch(0, i, 0);
            }

            for (var i = 0; i < operations; i++)
            {
                if (i == restartAt)
                {
                    await RestartAsync();
                }
                else
                {
                    await NextAsync();
                }

                Operations++;
                await Task.Delay(random.Next(0, 100), Ct);
            }
        }

        private async Task NextAsync()
        {
            var roll = random.Next(100);
            var c = random.Next(_conversations.Count);
            switch (roll)
            {
                case < 26:
                    await SendAsync(c, random);
                    break;
                case < 48:
                    await RespondAsync(c, random);
                    break;
                case < 56:
                    await CancelAsync(c, random);
                    break;
                case < 64:
                    // Two clients at once on one conversation: a send, an answer or a cancel each, racing.
                    Note($"race on c{c}:");
                    var (first, second) = (new Random(random.Next()), new Random(random.Next()));
                    await Task.WhenAll(MutateAsync(c, first), MutateAsync(c, second));
                    break;
                case < 76:
                    var log = await node.Store.ReadAllAsync(_conversations[c]);
                    var client = random.Next(Clients);
                    var after = random.Next(log.Count + 1);
                    Trace.Add($"watch c{c} on client {client} after {after}");
                    Watch(client, c, after);
                    break;
                case < 88:
                    if (_watchers.Count > 0)
                    {
                        var w = random.Next(_watchers.Count);
                        Trace.Add($"disconnect watcher {w}");
                        await _watchers[w].Watcher.PauseAsync();
                    }

                    break;
                default:
                    if (_watchers.Count > 0)
                    {
                        var w = random.Next(_watchers.Count);
                        Trace.Add($"reconnect watcher {w} after {_watchers[w].Watcher.LastSeq}");
                        await _watchers[w].Watcher.RewatchAsync(_clients[_watchers[w].Client]);
                    }

                    break;
            }
        }

        private Task MutateAsync(int c, Random rng) => rng.Next(3) switch
        {
            0 => SendAsync(c, rng),
            1 => RespondAsync(c, rng),
            _ => CancelAsync(c, rng),
        };

        private Task CancelAsync(int c, Random rng)
        {
            Note($"cancel c{c}");
            return _clients[rng.Next(Clients)].InvokeAsync("Cancel", _conversations[c], Ct);
        }

        private void Note(string line)
        {
            lock (_lock)
            {
                Trace.Add(line);
            }
        }

        private static string NewText(Random rng) => rng.Next(3) == 0
            ? $"Can you order dinner for {rng.Next(2, 7)} people tonight?"
            : $"Hello {rng.Next(1_000)}, how are you?";

        private void Watch(int client, int conversation, long afterSeq)
        {
            if (_watchers.Count < MaxWatchers)
            {
                _watchers.Add(new Watching(client, new ResumingWatcher(_clients[client], _conversations[conversation], afterSeq)));
            }
        }

        private async Task SendAsync(int c, Random rng)
        {
            var id = _conversations[c];
            List<Sent> earlier;
            lock (_lock)
            {
                earlier = _sent.Where(s => s.ConversationId == id && s.ClientMessageId is not null).ToList();
            }

            var roll = rng.Next(10);
            var (text, clientMessageId) = roll < 6 ? (NewText(rng), $"m{rng.Next(1_000_000)}") : (NewText(rng), (string?)null);
            if (roll < 2 && earlier.Count > 0)
            {
                // The same message again, as a client retrying after a lost answer.
                var again = earlier[rng.Next(earlier.Count)];
                (text, clientMessageId) = (again.Text, again.ClientMessageId);
            }

            Note($"send c{c} \"{text}\" {clientMessageId}");
            var result = await _clients[rng.Next(Clients)].InvokeAsync<SeqResult>("SendMessage", id, new SendMessage(text, clientMessageId), Ct);
            lock (_lock)
            {
                _sent.Add(new Sent(id, text, clientMessageId, result.Seq));
            }
        }

        private async Task RespondAsync(int c, Random rng)
        {
            var id = _conversations[c];
            var log = await node.Store.ReadAllAsync(id);
            var requests = log.Select(e => e.Data).OfType<InputRequested>().ToList();
            if (requests.Count == 0)
            {
                await SendAsync(c, rng);
                return;
            }

            // Mostly open ones; now and then one the log says is answered or void, which must be refused.
            var open = requests.Where(r => KindOf(log, r.RequestId) == Kind.Open).ToList();
            var request = open.Count > 0 && rng.Next(10) < 7 ? open[rng.Next(open.Count)] : requests[rng.Next(requests.Count)];
            var kind = KindOf(log, request.RequestId);
            bool? approved = request.Kind == InputKinds.Approval ? rng.Next(2) == 0 : null;
            var text = request.Kind == InputKinds.Question ? $"answer {rng.Next(100)}" : null;
            Note($"respond c{c} {request.RequestId} ({kind}) approved={approved} text={text}");
            var seq = await AnswerAsync(_clients[rng.Next(Clients)], id, new Respond(request.RequestId, approved, text));
            if (kind != Kind.Open)
            {
                Assert.True(seq is null, $"an answer to {kind.ToString().ToLowerInvariant()} request {request.RequestId} was accepted at seq {seq}");
            }
        }

        private async Task<long?> AnswerAsync(HubConnection client, string id, Respond respond)
        {
            long? seq;
            try
            {
                seq = (await client.InvokeAsync<SeqResult>("Respond", id, respond, Ct)).Seq;
            }
            catch (HubException ex) when (ex.Message.Contains("conflict:", StringComparison.Ordinal))
            {
                seq = null;
            }

            lock (_lock)
            {
                _answers.Add(new Answered(id, respond.RequestId, respond.Approved, respond.Text, seq));
            }

            return seq;
        }

        /// <summary>
        /// Kills the node with no warning and starts it again. Before any client comes back, every run that was
        /// going (not waiting for its user) resumes or ends by itself; then the clients reconnect and watch again
        /// from the last seq they saw.
        /// </summary>
        private async Task RestartAsync()
        {
            Trace.Add("restart");
            await node.KillAsync();
            var going = new List<(string Id, string RunId, long Seq)>();
            foreach (var id in _conversations)
            {
                var log = await node.Store.ReadAllAsync(id);
                if (ActiveRun(log) is { } run && !IsWaiting(log, run))
                {
                    going.Add((id, run, log.Count));
                }
            }

            foreach (var client in _clients)
            {
                await client.DisposeAsync();
            }

            await node.StartAsync();
            foreach (var (id, runId, seq) in going)
            {
                await node.Store.WaitForAsync(
                    id,
                    e => e.Seq > seq && e.RunId == runId && (e.Type == EventTypes.RunResumed || EventTypes.IsTerminal(e.Type)),
                    Patience);
            }

            for (var i = 0; i < Clients; i++)
            {
                _clients[i] = await node.ConnectAsync(_user);
            }

            foreach (var watching in _watchers)
            {
                await watching.Watcher.RewatchAsync(_clients[watching.Client]);
            }
        }

        /// <summary>Answers what is still asked until every run has ended; then checks everything.</summary>
        public async Task SettleAndCheckAsync()
        {
            Trace.Add("settle");
            var logs = new Dictionary<string, List<EventEnvelope>>();
            var stopwatch = Stopwatch.StartNew();
            foreach (var id in _conversations)
            {
                while (true)
                {
                    var log = await node.Store.ReadAllAsync(id);
                    if (ActiveRun(log) is not { } run)
                    {
                        logs[id] = log;
                        break;
                    }

                    foreach (var open in log.Select(e => e.Data).OfType<InputRequested>().Where(r => KindOf(log, r.RequestId) == Kind.Open))
                    {
                        await AnswerAsync(_clients[0], id, new Respond(open.RequestId, open.Kind == InputKinds.Approval ? true : null, open.Kind == InputKinds.Question ? "yes" : null));
                    }

                    Assert.True(stopwatch.Elapsed < Patience, $"run {run} of {id} did not end; its log: {Describe(log)}");
                    await Task.Delay(50, Ct);
                }
            }

            foreach (var (id, log) in logs)
            {
                LogInvariants.AssertHold(log);
                AssertEveryRunEnded(log);
            }

            // Every client saw, from its cursor, exactly the stored log: each seq once, in order, the same events.
            foreach (var (watching, index) in _watchers.Select((w, i) => (w, i)))
            {
                var watcher = watching.Watcher;
                var log = logs[watcher.ConversationId];
                if (log.Count > watcher.AfterSeq && !watcher.IsPaused)
                {
                    await watcher.WaitForAsync(e => e.Seq == log.Count, Patience, $"watcher {index} to reach seq {log.Count}");
                }

                var seen = watcher.Events;
                Trace.Add($"check watcher {index}: {watcher.ConversationId} after {watcher.AfterSeq}, saw {seen.Count} of {log.Count}");
                var expected = log.Skip((int)watcher.AfterSeq).Take(watcher.IsPaused ? seen.Count : log.Count).ToList();
                Assert.Equal(expected.Select(Fingerprint), seen.Select(Fingerprint));
            }

            foreach (var sent in _sent)
            {
                var e = logs[sent.ConversationId][(int)sent.Seq - 1];
                var message = Assert.IsType<UserMessageSent>(e.Data);
                Assert.Equal(sent.Text, message.Text);
                Assert.Equal(sent.ClientMessageId, message.ClientMessageId);
            }

            foreach (var idempotent in _sent.Where(s => s.ClientMessageId is not null).GroupBy(s => (s.ConversationId, s.ClientMessageId)))
            {
                // The same id gave one message, and every send of it the same seq.
                Assert.Single(logs[idempotent.Key.ConversationId], e => e.Data is UserMessageSent m && m.ClientMessageId == idempotent.Key.ClientMessageId);
                Assert.Single(idempotent.Select(s => s.Seq).Distinct());
            }

            foreach (var answer in _answers)
            {
                var log = logs[answer.ConversationId];
                var received = log.Where(e => e.Data is InputReceived r && r.RequestId == answer.RequestId).ToList();
                if (answer.Seq is { } seq)
                {
                    var stored = Assert.Single(received);
                    Assert.Equal(seq, stored.Seq);
                    Assert.Equal(answer.Approved, ((InputReceived)stored.Data).Approved);
                }
                else
                {
                    // Refused: it was answered by another call, or its run had ended (void).
                    var request = log.First(e => e.Data is InputRequested r && r.RequestId == answer.RequestId);
                    Assert.True(received.Count == 1 || log.Any(e => e.RunId == request.RunId && EventTypes.IsTerminal(e.Type)),
                        $"an answer to open request {answer.RequestId} was refused");
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var watching in _watchers)
            {
                await watching.Watcher.DisposeAsync();
            }

            foreach (var client in _clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    /// <summary>Within each run: one start, one end, last; every tool call has its result and every streamed message its end before it.</summary>
    private static void AssertEveryRunEnded(List<EventEnvelope> log)
    {
        foreach (var run in log.Where(e => e.RunId is not null).GroupBy(e => e.RunId))
        {
            var events = run.ToList();
            Assert.Single(events, e => e.Type == EventTypes.RunStarted);
            Assert.Single(events, e => EventTypes.IsTerminal(e.Type));
            Assert.True(EventTypes.IsTerminal(events[^1].Type), $"run {run.Key} has events after its end");
            Assert.Equal(
                events.Select(e => e.Data).OfType<ToolCalled>().Select(c => c.CallId).Order(),
                events.Select(e => e.Data).OfType<ToolResultReturned>().Select(r => r.CallId).Order());
            var streamed = events.Select(e => e.Data).OfType<MessageDeltaStreamed>().Select(d => d.MessageId).Distinct();
            var ended = events.Select(e => e.Data switch
            {
                AssistantMessageCompleted a => a.MessageId,
                MessageInterrupted m => m.MessageId,
                _ => null,
            }).OfType<string>();
            Assert.Empty(streamed.Except(ended));
            Assert.All(events.Select(e => e.Data).OfType<MessageInterrupted>(), m => Assert.Contains(m.Reason, new[] { InterruptReasons.Restart, InterruptReasons.ModelError, InterruptReasons.Cancelled }));
            Assert.All(events.Select(e => e.Data).OfType<RunResumed>(), r => Assert.Equal(InterruptReasons.Restart, r.Reason));
        }
    }

    /// <summary>The run that has started and not ended, if any.</summary>
    private static string? ActiveRun(List<EventEnvelope> log)
    {
        var started = log.LastOrDefault(e => e.Type == EventTypes.RunStarted);
        return started is not null && !log.Any(e => e.RunId == started.RunId && EventTypes.IsTerminal(e.Type)) ? started.RunId : null;
    }

    private static bool IsWaiting(List<EventEnvelope> log, string runId) =>
        log.Where(e => e.RunId == runId).Select(e => e.Data).OfType<InputRequested>().Any(r => KindOf(log, r.RequestId) == Kind.Open);

    private static Kind KindOf(List<EventEnvelope> log, string requestId)
    {
        if (log.Any(e => e.Data is InputReceived r && r.RequestId == requestId))
        {
            return Kind.Answered;
        }

        var request = log.First(e => e.Data is InputRequested r && r.RequestId == requestId);
        return log.Any(e => e.RunId == request.RunId && EventTypes.IsTerminal(e.Type)) ? Kind.Void : Kind.Open;
    }

    private static string Fingerprint(EventEnvelope e) => $"{e.Seq} {e.RunId} {e.Type} {AgentJson.SerializeData(e.Data)}";

    private static string Describe(List<EventEnvelope> log) => string.Join(", ", log.Select(e => $"{e.Seq}:{e.Type}"));

}
