using System.Text;
using System.Text.Json;
using Agents.Events;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace Agents.Grains.Tests;

/// <summary>
/// The envelope's JSON form as clients in .NET read it (one pass when <c>type</c> comes first, any order accepted), and
/// its data serialized once: the JSON the store holds is what Orleans carries and what clients receive.
/// </summary>
public sealed class EventJsonTests
{
    private static readonly EventEnvelope[] Samples =
    [
        new(7, "c_json", null, DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_123), new UserMessageSent("m_1", "Hi \"there\" 🙂", "client-1")),
        new(8, "c_json", "r_1", DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_124),
            new ToolCalled("call_1", "web-search", """{"query":"dinner","nested":{"a":[1,2]}}""", new TokenUsage(10, 20))),
        new(9, "c_json", "r_1", DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_125), new MessageDeltaStreamed("m_2", "piece")),
    ];

    [Fact]
    public void AnEnvelope_ReadsBackAsWritten()
    {
        foreach (var sample in Samples)
        {
            var json = JsonSerializer.Serialize(sample, AgentJson.Options);
            var read = JsonSerializer.Deserialize<EventEnvelope>(json, AgentJson.Options)!;
            Assert.Equal(json, JsonSerializer.Serialize(read, AgentJson.Options));
            Assert.Equal(sample, read);
        }
    }

    [Fact]
    public void DataBeforeItsType_AndUnknownFields_AreReadToo()
    {
        const string json = """
            {"extra":{"ignored":[1,{"x":2}]},"data":{"messageId":"m_2","text":"piece"},"at":"2027-01-15T08:00:00.125Z",
             "runId":"r_1","seq":9,"conversationId":"c_json","type":"message.delta","later":null}
            """;
        var read = JsonSerializer.Deserialize<EventEnvelope>(json, AgentJson.Options)!;
        Assert.Equal(new MessageDeltaStreamed("m_2", "piece"), read.Data);
        Assert.Equal((9L, "c_json", "r_1"), (read.Seq, read.ConversationId, read.RunId));
        Assert.Equal(DateTimeOffset.Parse("2027-01-15T08:00:00.125Z"), read.At);
    }

    [Theory]
    [InlineData("""{"conversationId":"c_json","type":"progress","at":"2027-01-15T08:00:00.125Z","data":{"text":"x"}}""", "seq")]
    [InlineData("""{"seq":1,"conversationId":"c_json","at":"2027-01-15T08:00:00.125Z","data":{"text":"x"}}""", "type")]
    [InlineData("""{"seq":1,"conversationId":"c_json","type":"no.such","at":"2027-01-15T08:00:00.125Z","data":{}}""", "no.such")]
    [InlineData("""[1,2]""", "object")]
    public void AMalformedEnvelope_IsAJsonException_ThatSaysWhatIsWrong(string json, string named)
    {
        var error = Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<EventEnvelope>(json, AgentJson.Options));
        Assert.Contains(named, error.Message);
    }

    [Fact]
    public void AStoredEnvelope_IsWrittenWithItsJsonAsStored_AndReadsItsDataOnlyWhenAsked()
    {
        foreach (var sample in Samples)
        {
            // Spacing no serializer of ours writes: only a verbatim copy keeps it.
            var stored = " " + sample.DataJson + " ";
            var envelope = new EventEnvelope(sample.Seq, sample.ConversationId, sample.RunId, sample.At, sample.Type, stored);
            Assert.Contains("\"data\":" + stored + "}", JsonSerializer.Serialize(envelope, AgentJson.Options), StringComparison.Ordinal);
            Assert.Equal(sample.Data, envelope.Data);
        }

        var broken = new EventEnvelope(1, "c_json", null, DateTimeOffset.UnixEpoch, "no.such", "{}");
        Assert.Equal("no.such", broken.Type);
        Assert.Throws<JsonException>(() => broken.Data);
    }

    [Fact]
    public void OrleansCarriesTheDatasJson_AndReadsBackAnEqualEnvelope()
    {
        using var services = new ServiceCollection().AddSerializer().BuildServiceProvider();
        var serializer = services.GetRequiredService<Serializer>();

        var bytes = serializer.SerializeToArray(Samples);
        var read = serializer.Deserialize<EventEnvelope[]>(bytes)!;

        Assert.Equal(Samples, read);
        Assert.All(Samples, s => Assert.Contains(s.DataJson, Encoding.UTF8.GetString(bytes), StringComparison.Ordinal));
        Assert.Equal(Samples.Select(s => s.Data), read.Select(e => e.Data));
        Assert.Same(Samples[0], services.GetRequiredService<DeepCopier>().Copy(Samples[0]));
    }
}
