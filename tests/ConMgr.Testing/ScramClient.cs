// ScramClient.cs: a test's own SCRAM-SHA-256 client over PgWire, step by step, so a test can act between the client's two messages.
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace ConMgr.Testing;

/// <summary>
/// RFC 5802 from the client side with PostgreSQL's framing, no channel binding ("n,,"). A test
/// sends the first message, does what it must (change the password, stop a process), then
/// finishes. Not a product: the real clients are psql, Npgsql and the others.
/// </summary>
public sealed class ScramClient(PgWire wire, string password)
{
    private readonly string _nonce = Convert.ToBase64String(RandomNumberGenerator.GetBytes(18));
    private string? _serverFirst;

    /// <summary>Reads AuthenticationSASL, sends SASLInitialResponse, reads SASLContinue. False when the server asked for something else (the message is in <see cref="Last"/>).</summary>
    public async Task<bool> StartAsync(TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(wire);
        Last = await wire.ReadMessageAsync(timeout);
        if (Last is not { Type: 'R' } || BinaryPrimitives.ReadInt32BigEndian(Last.Body) != 10)
        {
            return false;
        }

        var first = Encoding.ASCII.GetBytes($"n,,n=,r={_nonce}");
        byte[] body = [.. "SCRAM-SHA-256"u8, 0, 0, 0, 0, 0, .. first];
        BinaryPrimitives.WriteInt32BigEndian(body.AsSpan(14), first.Length);
        await wire.SendAsync(PgWire.Message('p', body));
        Last = await wire.ReadMessageAsync(timeout);
        if (Last is not { Type: 'R' } || BinaryPrimitives.ReadInt32BigEndian(Last.Body) != 11)
        {
            return false;
        }

        _serverFirst = Encoding.ASCII.GetString(Last.Body.AsSpan(4));
        return true;
    }

    /// <summary>Sends the proof; returns the next message (SASLFinal, or an ErrorResponse).</summary>
    public async Task<WireMessage?> FinishAsync(TimeSpan timeout)
    {
        var parts = _serverFirst!.Split(',');
        var salt = Convert.FromBase64String(parts[1][2..]);
        var iterations = int.Parse(parts[2][2..], System.Globalization.CultureInfo.InvariantCulture);
        var salted = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, 32);
        var clientKey = HMACSHA256.HashData(salted, "Client Key"u8);
        var withoutProof = $"c=biws,{parts[0]}";
        var signature = HMACSHA256.HashData(SHA256.HashData(clientKey), Encoding.ASCII.GetBytes($"n=,r={_nonce},{_serverFirst},{withoutProof}"));
        var proof = new byte[32];
        for (var i = 0; i < proof.Length; i++)
        {
            proof[i] = (byte)(clientKey[i] ^ signature[i]);
        }

        await wire.SendAsync(PgWire.Message('p', Encoding.ASCII.GetBytes($"{withoutProof},p={Convert.ToBase64String(proof)}")));
        return Last = await wire.ReadMessageAsync(timeout);
    }

    public WireMessage? Last { get; private set; }
}
