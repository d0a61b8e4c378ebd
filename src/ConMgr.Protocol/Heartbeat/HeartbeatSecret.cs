// HeartbeatSecret.cs: the shared-secret handshake's arithmetic: nonces, the two HMACs, a comparison that takes the same time whatever matches.
using System.Security.Cryptography;
using System.Text;

namespace ConMgr.Protocol.Heartbeat;

/// <summary>
/// Challenge-response over a secret both sides read from a file (docs/protocol.md, "Shared
/// secret"). The watchdog sends a nonce Nw; conmgr answers with its own nonce Nc and
/// HMAC-SHA256(secret, "conmgr" label, Nw, Nc); the watchdog checks it and answers with
/// HMAC-SHA256(secret, "watchdog" label, Nc, Nw). The secret never crosses the wire; fresh nonces
/// on both sides make a recorded exchange useless; the two labels keep one side's proof from being
/// reflected as the other's.
/// </summary>
public static class HeartbeatSecret
{
    public const int NonceLength = 32;
    public const int MacLength = 32;

    private static readonly byte[] ConmgrLabel = Encoding.ASCII.GetBytes("ConMgr heartbeat 1.2 conmgr proof");
    private static readonly byte[] WatchdogLabel = Encoding.ASCII.GetBytes("ConMgr heartbeat 1.2 watchdog proof");

    public static byte[] NewNonce() => RandomNumberGenerator.GetBytes(NonceLength);

    /// <summary>What conmgr sends: proves the secret for the watchdog's challenge <paramref name="watchdogNonce"/>.</summary>
    public static byte[] ConmgrProof(byte[] secret, ReadOnlySpan<byte> watchdogNonce, ReadOnlySpan<byte> conmgrNonce) => Mac(secret, ConmgrLabel, watchdogNonce, conmgrNonce);

    /// <summary>What the watchdog sends back: proves the secret for conmgr's nonce <paramref name="conmgrNonce"/>.</summary>
    public static byte[] WatchdogProof(byte[] secret, ReadOnlySpan<byte> conmgrNonce, ReadOnlySpan<byte> watchdogNonce) => Mac(secret, WatchdogLabel, conmgrNonce, watchdogNonce);

    /// <summary>Compares in constant time: how much of a wrong MAC matched must not show in the time taken.</summary>
    public static bool Matches(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> received) =>
        expected.Length == MacLength && received.Length == MacLength && CryptographicOperations.FixedTimeEquals(expected, received);

    private static byte[] Mac(byte[] secret, byte[] label, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second)
    {
        ArgumentNullException.ThrowIfNull(secret);
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, secret);
        hmac.AppendData(label);
        hmac.AppendData(first);
        hmac.AppendData(second);
        return hmac.GetHashAndReset();
    }
}
