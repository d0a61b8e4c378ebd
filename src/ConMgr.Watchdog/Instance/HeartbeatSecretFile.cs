// HeartbeatSecretFile.cs: the heartbeat secret a new install gets: generated at the watchdog's first start, in the data directory, mode 0600.
using System.Security.Cryptography;
using System.Text;
using ConMgr.Hosting.Logging;

namespace ConMgr.Watchdog.Instance;

/// <summary>
/// Creates <see cref="HeartbeatSecurity.DefaultSecretFile"/> when it is missing: 32 random bytes
/// written as 64 hexadecimal characters and a newline (text, so it can be copied with any tool),
/// created exclusively (O_CREAT|O_EXCL: an existing file or a symlink planted in its place is never
/// written through) with mode 0600, as the server wants its key file, whatever the data
/// directory's group access; flushed to disk before it is used. pg_basebackup copies it with the
/// data directory, so a standby built from the primary shares the primary's secret.
/// </summary>
public static class HeartbeatSecretFile
{
    /// <summary>Random bytes in a generated secret.</summary>
    public const int GeneratedBytes = 32;

    /// <returns>True when the file was created now.</returns>
    /// <exception cref="IOException">It could not be created (the message says where and why).</exception>
    /// <param name="announce">The LOG line when it was created (default: the heartbeat secret's).</param>
    public static bool EnsureExists(string file, ServerLog log, string? announce = null)
    {
        ArgumentNullException.ThrowIfNull(log);
        if (File.Exists(file) || new FileInfo(file).LinkTarget is not null)
        {
            return false;
        }

        var text = Encoding.ASCII.GetBytes(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(GeneratedBytes)) + "\n");
        try
        {
            using var stream = new FileStream(file, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
            stream.Write(text);
            stream.Flush(flushToDisk: true);
        }
        catch (IOException) when (File.Exists(file))
        {
            // Another watchdog of this data directory created it first: use theirs.
            return false;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"could not create {(announce is null ? "heartbeat secret" : "key")} file \"{file}\": {ex.Message}", ex);
        }

        log.Log(announce ?? $"generated the heartbeat secret file \"{file}\" (mode 0600): conmgr needs a copy of it as its heartbeat_secret_file (docs/tls.md, \"Shared secret\")");
        return true;
    }
}
