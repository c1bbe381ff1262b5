using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Agents.Events;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Agents.Api.Tests;

/// <summary>
/// One headless Chromium (Debian's, at /usr/bin/chromium) for the browser tests. Missing, it fails them: a
/// browser test that skips proves nothing.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private IPlaywright? _playwright;

    public IBrowser Browser { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
        {
            throw new InvalidOperationException($"Chromium is missing at {ChromiumPath}: install it with `apt-get install -y chromium`.");
        }

        SetDefaultExpectTimeout(15_000);
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
    }

    public async ValueTask DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
        }

        _playwright?.Dispose();
    }
}

/// <summary>The web client in a real browser against the real app.</summary>
public sealed class BrowserTests(ApiFixture api, BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task DinnerRun_InThePage_ShowsTheSteps_TakesTheApproval_AndAnswers()
    {
        await using var context = await NewContextAsync();
        var page = await SignInAsync(context, TestEnvironment.NewUser("page"));

        await StartDinnerAsync(page);
        var timeline = page.Locator("#timeline");
        await Expect(timeline.Locator(".step.progress").First).ToHaveTextAsync("Finding places");
        await Expect(timeline.Locator(".step.tool[data-tool='search_restaurants'][data-state='done']")).ToBeVisibleAsync();
        await Expect(page.Locator("#run-status")).ToHaveTextAsync("Waiting for your answer");
        await Expect(page.Locator("#conversation-list .status").First).ToHaveTextAsync("needs you");

        await page.GetByRole(AriaRole.Button, new() { Name = "Approve" }).ClickAsync();
        await Expect(timeline.Locator(".message.assistant").Last).ToContainTextAsync("Enjoy your dinner");
        await Expect(page.Locator("#run-status")).ToHaveTextAsync("Run completed");
        await Expect(timeline.Locator(".request")).ToContainTextAsync("Approved");
        // A tool's step says no more than that it is done: what the result means is in its Result block.
        var reservation = timeline.Locator(".step.tool[data-tool='make_reservation'][data-state='done']");
        await Expect(reservation.Locator(":scope > .label")).ToHaveTextAsync("make_reservation done");
        await Expect(reservation.Locator("details", new() { HasText = "Result" }).Locator("pre")).ToContainTextAsync("\"confirmation\"");
        await Expect(page.Locator("#cancel")).ToBeHiddenAsync();
        await Expect(page.Locator("#conversation-list .status").First).ToHaveTextAsync("completed");

        // A message after the run: the next run answers it in the same timeline.
        await page.GetByLabel("Message", new() { Exact = true }).FillAsync("Thanks!");
        await page.GetByLabel("Message", new() { Exact = true }).PressAsync("Enter");
        await Expect(timeline.Locator(".message.user")).ToHaveCountAsync(2);
        await Expect(timeline.Locator(".message.assistant").Last).ToContainTextAsync("Thanks!");
    }

    [Fact]
    public async Task AReloadedTab_ShowsTheWholeHistory_AndTheRunGoingOnToItsEnd()
    {
        await using var context = await NewContextAsync();
        var page = await SignInAsync(context, TestEnvironment.NewUser("reload"));
        await StartDinnerAsync(page);
        var approve = page.GetByRole(AriaRole.Button, new() { Name = "Approve" });
        await Expect(approve).ToBeVisibleAsync();

        // Reload while the run waits: the history is rebuilt from the log, the open request is still open.
        await page.ReloadAsync();
        var timeline = page.Locator("#timeline");
        await Expect(timeline.Locator(".message.user")).ToHaveTextAsync(new Regex("order dinner for two"));
        await Expect(timeline.Locator(".step.progress")).ToHaveTextAsync(["Finding places", "Evaluating places"]);
        await Expect(approve).ToBeVisibleAsync();
        if (Environment.GetEnvironmentVariable("AGENTS_SCREENSHOT") is { Length: > 0 } screenshot)
        {
            await page.ScreenshotAsync(new() { Path = screenshot, FullPage = true });
        }

        // Approve, then reload at once, while the reservation runs and the answer streams.
        await approve.ClickAsync();
        await page.ReloadAsync();
        await Expect(timeline.Locator(".message.assistant").Last).ToContainTextAsync("Enjoy your dinner");
        await Expect(page.Locator("#run-status")).ToHaveTextAsync("Run completed");
        await Expect(timeline.Locator(".message.user")).ToHaveCountAsync(1);
        await Expect(timeline.Locator(".message.assistant")).ToHaveCountAsync(2);
        await Expect(timeline.Locator(".step.progress")).ToHaveCountAsync(2);
        await Expect(timeline.Locator(".request")).ToContainTextAsync("Approved");
    }

    [Fact]
    public async Task ADroppedConnection_MidRun_IsResumedFromTheLastSeq_WithoutGapsOrDuplicates()
    {
        await using var context = await NewContextAsync();
        var page = await context.NewPageAsync();
        // Every hub WebSocket goes through the test, which can cut it like a network failure would.
        var sockets = new List<IWebSocketRoute>();
        await page.RouteWebSocketAsync(new Regex("/hubs/agent"), socket =>
        {
            lock (sockets)
            {
                sockets.Add(socket);
            }

            socket.ConnectToServer();
        });
        var user = TestEnvironment.NewUser("flaky");
        await SignInAsync(page, user);
        await StartDinnerAsync(page);
        var approve = page.GetByRole(AriaRole.Button, new() { Name = "Approve" });
        await approve.ClickAsync();

        // Cut the connection while the reservation runs and the answer streams.
        IWebSocketRoute first;
        lock (sockets)
        {
            first = Assert.Single(sockets);
        }

        await first.CloseAsync(new() { Code = 1006, Reason = "test: network failure" });
        var timeline = page.Locator("#timeline");
        await Expect(timeline.Locator(".message.assistant").Last).ToContainTextAsync("Enjoy your dinner");
        await Expect(page.Locator("#run-status")).ToHaveTextAsync("Run completed");
        await Expect(page.Locator("#connection")).ToHaveTextAsync("Connected");
        lock (sockets)
        {
            Assert.True(sockets.Count >= 2, "the client reconnected on a new WebSocket");
        }

        // The page folded the log to its end, and shows each of its messages and steps once, each message whole:
        // nothing lost with the connection, nothing shown twice when the watch resumed.
        using var http = await api.HttpAsAsync(user);
        var id = OpenConversationId(page);
        var info = await http.GetFromJsonAsync<ConversationInfo>($"/api/conversations/{id}", Hosting.ApiJson.Options, Ct);
        await Expect(timeline).ToHaveAttributeAsync("data-last-seq", info!.LastSeq.ToString());
        await Expect(timeline.Locator(".message.user")).ToHaveCountAsync(1);
        await Expect(timeline.Locator(".message.assistant")).ToHaveCountAsync(2);
        await Expect(timeline.Locator(".step.tool")).ToHaveCountAsync(2);
        var log = (await http.GetFromJsonAsync<EventPage>($"/api/conversations/{id}/events?limit=1000", Hosting.ApiJson.Options, Ct))!.Events.Select(e => e.Data).ToList();
        Assert.Equal(info.LastSeq, log.Count);
        await Expect(timeline.Locator(".message.user .text")).ToHaveTextAsync(log.OfType<UserMessageSent>().Select(m => m.Text).ToArray());
        await Expect(timeline.Locator(".message.assistant .text")).ToHaveTextAsync(log.OfType<AssistantMessageCompleted>().Select(m => m.Text.Trim()).ToArray());
        await Expect(timeline.Locator(".step.progress")).ToHaveTextAsync(log.OfType<ProgressReported>().Select(p => p.Text).ToArray());
        Assert.Equal(
            log.OfType<ToolCalled>().Select(c => c.CallId),
            await timeline.Locator(".step.tool").EvaluateAllAsync<string[]>("steps => steps.map(step => step.dataset.callId)"));
    }

    [Fact]
    public async Task ASignInTheServerRefuses_SaysWhyInTheNotice()
    {
        await using var context = await NewContextAsync();
        var page = await context.NewPageAsync();
        await page.GotoAsync("/");
        // The form lets no such name through, but a stored name signs in at once, as it is.
        await page.EvaluateAsync("() => localStorage.setItem('agents.user', 'not a name!')");
        await page.ReloadAsync();
        await Expect(page.Locator("#notice")).ToContainTextAsync("user must be 1-64 characters");
        await Expect(page.Locator("#app")).ToBeHiddenAsync();
    }

    [Fact]
    public async Task MarkupInATitleOrMessage_IsShownAsText_AndNeverRuns()
    {
        const string markup = "<img src=x onerror=\"window.__pwned=1\"><b>bold</b>";
        await using var context = await NewContextAsync();
        var page = await SignInAsync(context, TestEnvironment.NewUser("markup"));
        await page.GetByLabel("Start a conversation").FillAsync(markup);
        await page.GetByRole(AriaRole.Button, new() { Name = "Start", Exact = true }).ClickAsync();

        // The title (taken from the text), the list entry and the message show the characters as typed.
        await Expect(page.Locator("#conversation-title")).ToHaveTextAsync(markup);
        await Expect(page.Locator("#conversation-list .title").First).ToHaveTextAsync(markup);
        await Expect(page.Locator("#timeline .message.user .text")).ToHaveTextAsync(markup);
        await Expect(page.Locator("#timeline .message.assistant").First).ToBeVisibleAsync();
        Assert.Equal(0, await page.Locator("main img, main b, #conversation-list img, #conversation-list b").CountAsync());
        Assert.True(await page.EvaluateAsync<bool>("() => window.__pwned === undefined"));
    }

    [Fact]
    public async Task ResearchRun_InThePage_NestsThreeLiveSubagents_AndWritesTheReportWithItsSources()
    {
        await using var context = await NewContextAsync();
        var page = await SignInAsync(context, TestEnvironment.NewUser("research"));
        await page.GetByLabel("Start a conversation").FillAsync("research sourdough");
        await page.GetByRole(AriaRole.Button, new() { Name = "Start", Exact = true }).ClickAsync();

        var timeline = page.Locator("#timeline");
        var subagents = timeline.Locator(".step.subagent");
        await Expect(subagents).ToHaveCountAsync(3);
        await Expect(subagents.First).ToContainTextAsync("sourdough: Background");
        // Opened, a sub-agent shows its own text, read from its own log.
        await subagents.First.Locator("summary").ClickAsync();
        await Expect(subagents.First.Locator(".child-log .message.assistant").Last).ToContainTextAsync("The story of sourdough");
        await Expect(timeline.Locator(".step.subagent[data-state='completed']")).ToHaveCountAsync(3);
        var report = timeline.Locator(".message.assistant").Last;
        await Expect(report).ToContainTextAsync("Report on sourdough");
        await Expect(report).ToContainTextAsync("Sources: http");
        await Expect(page.Locator("#run-status")).ToHaveTextAsync("Run completed");

        // A child's own log opens as a conversation of its own.
        await subagents.Nth(1).Locator(".open-child").ClickAsync();
        await Expect(timeline.Locator(".message.user").First).ToContainTextAsync("/demo/research/sourdough/today");
        await Expect(timeline.Locator(".message.assistant").Last).ToContainTextAsync("Source: http");
    }

    [Fact]
    public async Task EditingAMessage_ForksBeforeIt_AndRunsTheEditedText_AndRetryRunsItAgain()
    {
        await using var context = await NewContextAsync();
        var page = await SignInAsync(context, TestEnvironment.NewUser("edit"));
        await page.GetByLabel("Start a conversation").FillAsync("Hello there");
        await page.GetByRole(AriaRole.Button, new() { Name = "Start", Exact = true }).ClickAsync();
        var timeline = page.Locator("#timeline");
        await Expect(page.Locator("#run-status")).ToHaveTextAsync("Run completed");
        await page.GetByLabel("Message", new() { Exact = true }).FillAsync("Tell me about Oslo");
        await page.GetByLabel("Message", new() { Exact = true }).PressAsync("Enter");
        await Expect(timeline.Locator(".message.assistant")).ToHaveCountAsync(2);
        await Expect(timeline.Locator(".message.assistant").Last).ToContainTextAsync("Oslo");
        await Expect(page.Locator("#run-status")).ToHaveTextAsync("Run completed");

        await timeline.Locator(".message.user").Last.GetByRole(AriaRole.Button, new() { Name = "Edit" }).ClickAsync();
        await Expect(page.GetByLabel("Edited message")).ToBeFocusedAsync();
        await page.GetByLabel("Edited message").FillAsync("Tell me about Bergen");
        await page.GetByRole(AriaRole.Button, new() { Name = "Save and run" }).ClickAsync();

        // The fork is open: the first exchange copied, then the edited message and its own answer.
        await Expect(page.Locator("#conversation-list li")).ToHaveCountAsync(2);
        await Expect(timeline.Locator(".message.user")).ToHaveTextAsync([new Regex("Hello there"), new Regex("Tell me about Bergen")]);
        await Expect(timeline.Locator(".message.assistant").Last).ToContainTextAsync("Bergen");
        await Expect(timeline).Not.ToContainTextAsync("Oslo");
        await Expect(page.Locator("#run-status")).ToHaveTextAsync("Run completed");

        // Retry the edited run: one more fork, the same message answered again.
        await timeline.Locator(".step.end .retry").Last.ClickAsync();
        await Expect(page.Locator("#conversation-list li")).ToHaveCountAsync(3);
        await Expect(timeline.Locator(".message.user")).ToHaveTextAsync([new Regex("Hello there"), new Regex("Tell me about Bergen")]);
        await Expect(timeline.Locator(".message.assistant")).ToHaveCountAsync(2);
        await Expect(page.Locator("#run-status")).ToHaveTextAsync("Run completed");
    }

    [Fact]
    public async Task TheAgentsMarkdown_RendersAsElements_WhileHtmlInItsTextStaysInertText()
    {
        // The Demo model quotes the request back: markdown and markup in it come back in the model's own answer.
        const string request = "**bold**\n\n- one\n- two\n\n<img src=x onerror=__md=1><script>__md=2</script>";
        await using var context = await NewContextAsync();
        var page = await SignInAsync(context, TestEnvironment.NewUser("markdown"));
        // Every message taken out of the timeline from here on is written down: updated in place, none is.
        await page.EvaluateAsync("""
            () => {
                window.__removedMessages = [];
                new MutationObserver(records => {
                    for (const record of records) {
                        for (const node of record.removedNodes) {
                            if (node.nodeType === Node.ELEMENT_NODE && node.matches('.message')) {
                                window.__removedMessages.push(node.className);
                            }
                        }
                    }
                }).observe(document.getElementById('timeline'), { childList: true, subtree: true });
            }
            """);
        await page.GetByLabel("Start a conversation").FillAsync(request);
        await page.GetByRole(AriaRole.Button, new() { Name = "Start", Exact = true }).ClickAsync();

        var timeline = page.Locator("#timeline");
        var question = timeline.Locator(".message.user");
        var answer = timeline.Locator(".message.assistant").First;
        await Expect(answer).ToBeVisibleAsync();
        // Marked now, checked at the end: the messages were updated in place while the answer streamed, not rebuilt.
        await question.EvaluateAsync("el => el.__kept = true");
        await answer.EvaluateAsync("el => el.__kept = true");
        await Expect(page.Locator("#run-status")).ToHaveTextAsync("Run completed");
        await Expect(answer).Not.ToHaveAttributeAsync("aria-busy", "true");

        await Expect(answer.Locator(".text strong")).ToHaveTextAsync("bold");
        await Expect(answer.Locator(".text li")).ToHaveTextAsync(["one", "two"]);
        await Expect(answer.Locator(".text")).ToContainTextAsync("<img src=x onerror=__md=1><script>__md=2</script>");
        Assert.Equal(0, await timeline.Locator("img, script").CountAsync());
        Assert.True(await page.EvaluateAsync<bool>("() => window.__md === undefined"));

        // The user's own text is never markdown.
        await Expect(question.Locator(".text")).ToHaveTextAsync(request);
        Assert.Equal(0, await question.Locator("strong, li").CountAsync());
        Assert.True(await question.EvaluateAsync<bool>("el => el.__kept === true"));
        Assert.True(await answer.EvaluateAsync<bool>("el => el.__kept === true"));
        Assert.Empty(await page.EvaluateAsync<string[]>("() => window.__removedMessages"));
    }

    [Fact]
    public async Task TheConversationList_RefreshedOrReordered_KeepsFocusOnTheSameEntry()
    {
        var user = TestEnvironment.NewUser("listfocus");
        await using var context = await NewContextAsync();
        var page = await SignInAsync(context, user);
        using var http = await api.HttpAsAsync(user);
        var first = await CreateAsync(http, "First");
        await CreateAsync(http, "Second");
        var list = page.Locator("#conversation-list");
        await Expect(list.Locator(".title")).ToHaveTextAsync(["Second", "First"]);

        // Opened by a click, the entry has focus; the element itself is marked, so a look-alike put in its place fails.
        var entry = list.Locator($"button[data-id='{first.Id}']");
        await entry.ClickAsync();
        await Expect(entry).ToBeFocusedAsync();
        await entry.EvaluateAsync("el => el.__kept = true");

        // Another conversation arrives (pushed to the page) and goes on top.
        await CreateAsync(http, "Third");
        await Expect(list.Locator(".title")).ToHaveTextAsync(["Third", "Second", "First"]);
        await Expect(entry).ToBeFocusedAsync();

        // The open one runs, so it moves to the top: the focused entry itself moves.
        using var sent = await http.PostAsJsonAsync($"/api/conversations/{first.Id}/messages", new { text = "Hello" }, Ct);
        sent.EnsureSuccessStatusCode();
        await Expect(list.Locator(".title")).ToHaveTextAsync(["First", "Third", "Second"]);
        await Expect(page.Locator("#run-status")).ToHaveTextAsync("Run completed");
        await Expect(entry).ToBeFocusedAsync();
        Assert.True(await page.EvaluateAsync<bool>("() => document.activeElement.__kept === true"));
    }

    [Fact]
    public async Task AnApproval_WithARemark_SendsTheRemarkWithTheDecision()
    {
        var user = TestEnvironment.NewUser("remark");
        await using var context = await NewContextAsync();
        var page = await SignInAsync(context, user);
        await StartDinnerAsync(page);

        var remark = page.GetByLabel("Remark (optional)");
        await remark.FillAsync("Window seat, please");
        await page.GetByRole(AriaRole.Button, new() { Name = "Approve" }).ClickAsync();
        var timeline = page.Locator("#timeline");
        await Expect(timeline.Locator(".request")).ToContainTextAsync("Approved: “Window seat, please”");
        await Expect(page.Locator("#run-status")).ToHaveTextAsync("Run completed");

        using var http = await api.HttpAsAsync(user);
        var log = await http.GetFromJsonAsync<EventPage>($"/api/conversations/{OpenConversationId(page)}/events?limit=1000", Hosting.ApiJson.Options, Ct);
        var received = Assert.Single(log!.Events.Select(e => e.Data).OfType<InputReceived>());
        Assert.True(received.Approved);
        Assert.Equal("Window seat, please", received.Text);
    }

    [Fact]
    public async Task ANewRequest_TakesFocusFromAnEmptyComposer_ButNotFromOneBeingTypedIn()
    {
        var user = TestEnvironment.NewUser("askfocus");
        await using var context = await NewContextAsync();
        var page = await SignInAsync(context, user);
        await StartDinnerAsync(page);

        // The page left focus in the empty composer: the approval takes it, at its remark.
        var remark = page.GetByLabel("Remark (optional)");
        await Expect(remark).ToBeFocusedAsync();

        // Someone typing keeps their place when the next approval appears (answered and started over HTTP here, so
        // nothing in the page moves focus in between).
        var composer = page.GetByLabel("Message", new() { Exact = true });
        await composer.FillAsync("draft");
        using var http = await api.HttpAsAsync(user);
        var id = OpenConversationId(page);
        var requestId = await page.Locator("#timeline .request").GetAttributeAsync("data-request-id");
        using var approved = await http.PostAsJsonAsync($"/api/conversations/{id}/responses", new { requestId, approved = true }, Ct);
        approved.EnsureSuccessStatusCode();
        await Expect(page.Locator("#run-status")).ToHaveTextAsync("Run completed");
        using var sent = await http.PostAsJsonAsync($"/api/conversations/{id}/messages", new { text = "Can you book a table for four tonight?" }, Ct);
        sent.EnsureSuccessStatusCode();

        await Expect(remark).ToBeVisibleAsync();
        await Expect(page.Locator("#run-status")).ToHaveTextAsync("Waiting for your answer");
        await Expect(composer).ToBeFocusedAsync();
        await Expect(composer).ToHaveValueAsync("draft");
    }

    private Task<IBrowserContext> NewContextAsync() =>
        browser.Browser.NewContextAsync(new() { BaseURL = api.BaseAddress.ToString(), ViewportSize = new() { Width = 1200, Height = 900 } });

    private static async Task<IPage> SignInAsync(IBrowserContext context, string user) =>
        await SignInAsync(await context.NewPageAsync(), user);

    private static async Task<IPage> SignInAsync(IPage page, string user)
    {
        await page.GotoAsync("/");
        await Expect(page.GetByLabel("Your name")).ToHaveValueAsync("demo");
        await page.GetByLabel("Your name").FillAsync(user);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(page.Locator("#connection")).ToHaveTextAsync("Connected");
        return page;
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The conversation the page shows: its id is the URL's fragment.</summary>
    private static string OpenConversationId(IPage page) => Uri.UnescapeDataString(new Uri(page.Url).Fragment.TrimStart('#'));

    private static async Task<ConversationInfo> CreateAsync(HttpClient http, string title)
    {
        using var response = await http.PostAsJsonAsync("/api/conversations", new { title }, Ct);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<ConversationInfo>(Hosting.ApiJson.Options, Ct))!;
    }

    private static async Task StartDinnerAsync(IPage page)
    {
        await page.GetByLabel("Start a conversation").FillAsync(Contract.DinnerRequest);
        await page.GetByRole(AriaRole.Button, new() { Name = "Start", Exact = true }).ClickAsync();
        await Expect(page.Locator("#conversation-title")).ToHaveTextAsync(Contract.DinnerRequest);
    }
}
