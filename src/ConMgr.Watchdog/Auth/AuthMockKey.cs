// AuthMockKey.cs: the key of the mock salts (watchdog_auth_mock.key in the data directory, generated at first use, mode 0600).
using System.Security.Cryptography;
using ConMgr.Hosting.Logging;
using ConMgr.Watchdog.Instance;

namespace ConMgr.Watchdog.Auth;

/// <summary>
/// Mock salts must be stable (the same name shows the same salt at every attempt, from every
/// conmgr, across restarts) and unpredictable (a salt nobody can compute tells nothing about
/// whether a role exists). So the key lives in the data directory, made like the heartbeat
/// secret (<see cref="HeartbeatSecretFile"/>), and pg_basebackup copies it to the standbys. With
/// <c>-d</c> (no data directory) the key is random per watchdog process.
/// </summary>
public static class AuthMockKey
{
    public const string FileName = "watchdog_auth_mock.key";

    /// <summary>The key; a file that cannot be made or read gives a WARNING and a per-process key (lookups must not stop the watchdog).</summary>
    public static byte[] Load(string? dataDirectory, ServerLog log)
    {
        ArgumentNullException.ThrowIfNull(log);
        try
        {
            return Read(dataDirectory, log);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            log.Warning($"{ex.Message}; mock salts use a key of this process only, so they change when the watchdog restarts");
            return RandomNumberGenerator.GetBytes(HeartbeatSecretFile.GeneratedBytes);
        }
    }

    private static byte[] Read(string? dataDirectory, ServerLog log)
    {
        if (dataDirectory is null)
        {
            return RandomNumberGenerator.GetBytes(HeartbeatSecretFile.GeneratedBytes);
        }

        var file = Path.Combine(dataDirectory, FileName);
        HeartbeatSecretFile.EnsureExists(file, log, $"generated the mock authentication key \"{file}\" (mode 0600)");
        var text = File.ReadAllText(file).Trim();
        try
        {
            var key = Convert.FromHexString(text);
            return key.Length >= 16 ? key : throw new FormatException("too short");
        }
        catch (FormatException ex)
        {
            throw new IOException($"invalid mock authentication key file \"{file}\": {ex.Message}", ex);
        }
    }
}
