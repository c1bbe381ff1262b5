using YamlDotNet.RepresentationModel;

namespace Agents.Cluster.Tests;

/// <summary>
/// What can be checked of deploy/ without a Kubernetes cluster or a Docker engine: the manifests parse and carry
/// what the service needs, and the Dockerfiles build with the script CI runs.
/// </summary>
public sealed class DeployManifestTests
{
    private static readonly string Deploy = Path.Combine(TestEnvironment.RepositoryRoot, "deploy");

    private static readonly List<YamlMappingNode> Documents = Directory.GetFiles(Path.Combine(Deploy, "k8s"), "*.yaml")
        .Order()
        .SelectMany(file =>
        {
            var stream = new YamlStream();
            using var reader = new StreamReader(file);
            stream.Load(reader);
            return stream.Documents.Select(d => (YamlMappingNode)d.RootNode);
        })
        .ToList();

    [Fact]
    public void EveryManifest_HasAKindAndAName_InTheAgentsNamespace()
    {
        Assert.NotEmpty(Documents);
        foreach (var document in Documents)
        {
            Assert.False(string.IsNullOrEmpty(Scalar(document, "apiVersion")));
            var kind = Scalar(document, "kind");
            Assert.False(string.IsNullOrEmpty(Scalar(document, "metadata", "name")), $"{kind} without a name");
            if (kind != "Namespace")
            {
                Assert.Equal("agents", Scalar(document, "metadata", "namespace"));
            }
        }
    }

    [Fact]
    public void EveryDeployment_HasHealthProbes_AndADisruptionBudget()
    {
        var deployments = Documents.Where(d => Scalar(d, "kind") == "Deployment").ToList();
        Assert.Equal(["agents-gateway", "agents-silo"], deployments.Select(d => Scalar(d, "metadata", "name")).Order());
        var budgets = Documents.Where(d => Scalar(d, "kind") == "PodDisruptionBudget").ToList();
        foreach (var deployment in deployments)
        {
            var app = Scalar(deployment, "spec", "selector", "matchLabels", "app");
            Assert.Equal(app, Scalar(deployment, "spec", "template", "metadata", "labels", "app"));
            var container = (YamlMappingNode)((YamlSequenceNode)Node(deployment, "spec", "template", "spec", "containers")!)[0];
            Assert.Equal("/healthz", Scalar(container, "livenessProbe", "httpGet", "path"));
            Assert.Equal("/readyz", Scalar(container, "readinessProbe", "httpGet", "path"));
            Assert.Contains(budgets, b => Scalar(b, "spec", "selector", "matchLabels", "app") == app);
        }
    }

    [Fact]
    public void TheClusterConfiguration_TurnsDevelopmentTokensOff_AndRunsOnPostgres()
    {
        var config = Documents.Single(d => Scalar(d, "kind") == "ConfigMap");
        Assert.Equal("false", Scalar(config, "data", "Auth__DevTokens"));
        Assert.Equal("Cluster", Scalar(config, "data", "Orleans__Mode"));
        Assert.Equal("Postgres", Scalar(config, "data", "Storage__Provider"));
    }

    [Theory]
    [InlineData("Dockerfile.silo", "silo", "Agents.Silo.dll")]
    [InlineData("Dockerfile.gateway", "gateway", "Agents.Api.dll")]
    public void TheDockerfiles_BuildWithThePublishScript_AndRunTheRightAssembly(string file, string target, string assembly)
    {
        var text = File.ReadAllText(Path.Combine(Deploy, file));
        Assert.Contains($"RUN deploy/publish.sh {target} /app", text);
        Assert.Contains($"ENTRYPOINT [\"dotnet\", \"{assembly}\"]", text);
        Assert.Contains($"{target})", File.ReadAllText(Path.Combine(Deploy, "publish.sh")));
    }

    private static YamlNode? Node(YamlMappingNode node, params string[] path)
    {
        YamlNode? current = node;
        foreach (var key in path)
        {
            if (current is not YamlMappingNode mapping || !mapping.Children.TryGetValue(new YamlScalarNode(key), out current))
            {
                return null;
            }
        }

        return current;
    }

    private static string? Scalar(YamlMappingNode node, params string[] path) => (Node(node, path) as YamlScalarNode)?.Value;
}
