// BreakerTests.cs: the Npgsql internals the client reaches (a connection's socket) are there in the Npgsql version the repository pins.
using System.Text.RegularExpressions;
using ConMgr.Client;
using ConMgr.Testing;
using Npgsql;

namespace ConMgr.UnitTests.Client;

public sealed partial class BreakerTests
{
    /// <summary>
    /// Pinned: upgrading Npgsql in Directory.Packages.props runs this against the new version. If
    /// its internals moved, this fails here (and Breaker_works_with_this_npgsql_version against a
    /// server), instead of in-flight commands silently no longer failing fast.
    /// </summary>
    [Fact]
    public void Breaker_reaches_the_socket_of_this_npgsql_version()
    {
        var pinned = PinnedVersion().Match(File.ReadAllText(Path.Combine(RepoPaths.Root, "Directory.Packages.props"))).Groups[1].Value;

        Assert.Equal(pinned, typeof(NpgsqlConnection).Assembly.GetName().Version!.ToString(3));
        Assert.True(NpgsqlConnectionBreaker.IsSupported, $"Npgsql {pinned} hides a connection's socket from ConMgr.Client");
        using var unopened = new NpgsqlConnection("Host=127.0.0.1;Port=1");
        Assert.Null(NpgsqlConnectionBreaker.ServerSocketOf(unopened));
        Assert.False(NpgsqlConnectionBreaker.Break(unopened));
    }

    [GeneratedRegex("<PackageVersion Include=\"Npgsql\" Version=\"([0-9.]+)\"")]
    private static partial Regex PinnedVersion();
}
