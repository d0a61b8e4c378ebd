// PackageTests.cs: dotnet pack makes ConMgr.Client's package (readme, licence, repository, symbols), and the example application builds from it and runs.
using System.IO.Compression;
using System.Text.Json;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Transparent;

// Alone: dotnet pack and build take both cores for a while, which would distort the timing of tests beside it.
[Collection(Heartbeat.TimingSensitive.Name)]
public sealed class PackageTests
{
    /// <summary>A version no release will have, so the global package cache's copy of it can be replaced safely.</summary>
    private const string Version = "0.0.0-packagetest";

    [Fact]
    public async Task Packed_client_restores_into_the_example_application_which_then_runs_through_conmgr()
    {
        var work = Directory.CreateTempSubdirectory("conmgr-package-");
        try
        {
            var feed = Directory.CreateDirectory(Path.Combine(work.FullName, "feed")).FullName;
            foreach (var project in new[] { "src/ConMgr.Protocol", "src/ConMgr.Client" })
            {
                (await Dotnet("pack", Path.Combine(RepoPaths.Root, project), "-c", "Release", "--no-build", "-o", feed, $"-p:Version={Version}")).EnsureSuccess($"dotnet pack {project}");
            }

            using (var package = ZipFile.OpenRead(Path.Combine(feed, $"ConMgr.Client.{Version}.nupkg")))
            {
                var nuspec = new StreamReader(package.GetEntry("ConMgr.Client.nuspec")!.Open()).ReadToEnd();
                Assert.Contains("<license type=\"expression\">PostgreSQL</license>", nuspec, StringComparison.Ordinal);
                Assert.Contains("<readme>README.md</readme>", nuspec, StringComparison.Ordinal);
                Assert.Matches("<repository type=\"git\"[^>]* commit=\"[0-9a-f]{40}\"", nuspec);
                Assert.Contains($"<dependency id=\"ConMgr.Protocol\" version=\"{Version}\"", nuspec, StringComparison.Ordinal);
                Assert.NotNull(package.GetEntry("README.md"));
                Assert.NotNull(package.GetEntry("lib/net10.0/ConMgr.Client.dll"));
            }

            using (var symbols = ZipFile.OpenRead(Path.Combine(feed, $"ConMgr.Client.{Version}.snupkg")))
            {
                Assert.NotNull(symbols.GetEntry("lib/net10.0/ConMgr.Client.pdb"));
            }

            // The example application, its source unchanged, with the package instead of the project reference.
            var app = Directory.CreateDirectory(Path.Combine(work.FullName, "app")).FullName;
            File.Copy(Path.Combine(RepoPaths.Root, "examples", "ConMgr.Example", "Program.cs"), Path.Combine(app, "Program.cs"));
            await File.WriteAllTextAsync(Path.Combine(app, "cm_example.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <Nullable>enable</Nullable>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="ConMgr.Client" Version="{Version}" />
                    <PackageReference Include="Microsoft.Extensions.DependencyInjection" Version="10.0.0" />
                  </ItemGroup>
                </Project>
                """);
            await File.WriteAllTextAsync(Path.Combine(app, "nuget.config"), $"""
                <configuration>
                  <packageSources>
                    <add key="conmgr-test-feed" value="{feed}" />
                  </packageSources>
                </configuration>
                """);
            ForgetCachedTestPackages();
            (await Dotnet("build", Path.Combine(app, "cm_example.csproj"), "-c", "Release")).EnsureSuccess("dotnet build of the example against the package");

            using (var assets = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(app, "obj", "project.assets.json"))))
            {
                var library = assets.RootElement.GetProperty("libraries").GetProperty($"ConMgr.Client/{Version}");
                Assert.Equal("package", library.GetProperty("type").GetString());
            }

            await using var t = await TransparentCluster.StartAsync();
            var run = (await ProcessRunner.RunAsync("dotnet", [Path.Combine(app, "bin", "Release", "net10.0", "cm_example.dll"), t.ConMgrHost], timeout: TimeSpan.FromMinutes(1))).EnsureSuccess("the example built from the package");
            Assert.Contains($"wrote order 1 on 127.0.0.1:{t.Cluster.Primary.Port} (via conmgr {t.ConMgrHost})", run.StandardOutput, StringComparison.Ordinal);
            Assert.Contains($"read 1 order(s) on the standby 127.0.0.1:{t.Cluster.Standbys[0].Port}", run.StandardOutput, StringComparison.Ordinal);
        }
        finally
        {
            ForgetCachedTestPackages();
            work.Delete(recursive: true);
        }
    }

    private static Task<ProcessResult> Dotnet(params string[] args) =>
        ProcessRunner.RunAsync("dotnet", [.. args, "-nologo"], timeout: TimeSpan.FromMinutes(5), environment: new Dictionary<string, string> { ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1" });

    /// <summary>The global package cache keeps a version once restored: drop this test's version so each run restores what it packed.</summary>
    private static void ForgetCachedTestPackages()
    {
        var cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        foreach (var id in new[] { "conmgr.client", "conmgr.protocol" })
        {
            var cached = Path.Combine(cache, id, Version);
            if (Directory.Exists(cached))
            {
                Directory.Delete(cached, recursive: true);
            }
        }
    }
}
