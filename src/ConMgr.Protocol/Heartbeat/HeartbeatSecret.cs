// HeartbeatSecret.cs: the shared-secret handshake's arithmetic: nonces, the two HMACs, a comparison that takes the same time whatever matches.
using System.Security.Cryptography;
using System.Text;

namespace ConMgr.Protocol.Heartbeat;

/// <summary>
/// Challenge-response over a secret both sides read from a file (docs/protocol.md, "Shared
/// secret"). The watchdog sends a nonce Nw; conmgr answers with its own nonce Nc and
/// HMAC-SHA256(secret, "conmgr" label, Nw, Nc, Hello); the watchdog checks it and answers with
/// HMAC-SHA256(secret, "watchdog" label, Nc, Nw, Hello). The secret never crosses the wire; fresh
/// nonces on both sides make a recorded exchange useless; the two labels keep one side's proof
/// from being reflected as the other's; and the Hello's payload (version, interval, timeout,
/// conmgr id) is inside both MACs, so none of it can be altered on the path (protocol 1.3).
/// </summary>
public static class HeartbeatSecret
{
    public const int NonceLength = 32;
    public const int MacLength = 32;

    private static readonly byte[] ConmgrLabel = Encoding.ASCII.GetBytes("ConMgr heartbeat 1.3 conmgr proof");
    private static readonly byte[] WatchdogLabel = Encoding.ASCII.GetBytes("ConMgr heartbeat 1.3 watchdog proof");

    public static byte[] NewNonce() => RandomNumberGenerator.GetBytes(NonceLength);

    /// <summary>What conmgr sends: proves the secret for the watchdog's challenge <paramref name="watchdogNonce"/> and the Hello it sent.</summary>
    public static byte[] ConmgrProof(byte[] secret, ReadOnlySpan<byte> watchdogNonce, ReadOnlySpan<byte> conmgrNonce, HelloFrame hello) => Mac(secret, ConmgrLabel, watchdogNonce, conmgrNonce, hello);

    /// <summary>What the watchdog sends back: proves the secret for conmgr's nonce <paramref name="conmgrNonce"/> and the Hello it received.</summary>
    public static byte[] WatchdogProof(byte[] secret, ReadOnlySpan<byte> conmgrNonce, ReadOnlySpan<byte> watchdogNonce, HelloFrame hello) => Mac(secret, WatchdogLabel, conmgrNonce, watchdogNonce, hello);

    /// <summary>Compares in constant time: how much of a wrong MAC matched must not show in the time taken.</summary>
    public static bool Matches(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> received) =>
        expected.Length == MacLength && received.Length == MacLength && CryptographicOperations.FixedTimeEquals(expected, received);

    private static byte[] Mac(byte[] secret, byte[] label, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second, HelloFrame hello)
    {
        ArgumentNullException.ThrowIfNull(secret);
        ArgumentNullException.ThrowIfNull(hello);
        Span<byte> payload = stackalloc byte[HelloFrame.V11Length];
        hello.WritePayload(payload);
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, secret);
        hmac.AppendData(label);
        hmac.AppendData(first);
        hmac.AppendData(second);
        hmac.AppendData(payload);
        return hmac.GetHashAndReset();
    }
}
