// AuthenticationMessages.cs: the few authentication-phase messages conmgr reads while relaying: message framing, the request code, the SASL initial response.
using System.Buffers.Binary;
using System.Text;

namespace ConMgr.Protocol.Postgres;

/// <summary>Authentication request codes (the int32 after 'R'), from PostgreSQL's protocol.</summary>
public static class AuthenticationCodes
{
    public const int Ok = 0;
    public const int KerberosV5 = 2;
    public const int CleartextPassword = 3;
    public const int Md5Password = 5;
    public const int Gss = 7;
    public const int GssContinue = 8;
    public const int Sspi = 9;
    public const int Sasl = 10;
    public const int SaslContinue = 11;
    public const int SaslFinal = 12;

    /// <summary>True when the client answers this request with a message of its own ('p').</summary>
    public static bool ExpectsResponse(int code) => code is CleartextPassword or Md5Password or Gss or GssContinue or Sspi or Sasl or SaslContinue;
}

/// <summary>
/// Pure functions over whole messages (type byte, length word, body) of the authentication
/// phase. Every length is checked against the message's own bounds before it is used.
/// </summary>
public static class AuthenticationMessages
{
    /// <summary>The channel-binding variant of SCRAM: its name ends with this.</summary>
    public const string PlusSuffix = "-PLUS";

    /// <summary>The request code of an AuthenticationRequest ('R') message, or null when it is not one or is too short.</summary>
    public static int? RequestCode(ReadOnlySpan<byte> message) =>
        message.Length >= 9 && message[0] == (byte)BackendMessageCode.AuthenticationRequest ? BinaryPrimitives.ReadInt32BigEndian(message[5..]) : null;

    /// <summary>
    /// Reads a SASLInitialResponse (a 'p' message answering AuthenticationSASL): the mechanism
    /// name, and the GS2 channel-binding flag that starts SCRAM's client-first-message ('n': no
    /// channel binding; 'y': the client could bind but thinks the server cannot; 'p': binding).
    /// Null flag when there is no data. False when the message is malformed.
    /// </summary>
    public static bool TryReadSaslInitialResponse(ReadOnlySpan<byte> message, out string mechanism, out char? gs2Flag)
    {
        mechanism = string.Empty;
        gs2Flag = null;
        if (message.Length < 5 || message[0] != (byte)'p')
        {
            return false;
        }

        var body = message[5..];
        var nul = body.IndexOf((byte)0);
        if (nul < 0 || body.Length - nul - 1 < 4)
        {
            return false;
        }

        mechanism = Encoding.UTF8.GetString(body[..nul]);
        var dataLength = BinaryPrimitives.ReadInt32BigEndian(body[(nul + 1)..]);
        var data = body[(nul + 5)..];
        if (dataLength == -1)
        {
            return data.IsEmpty;
        }

        if (dataLength < 0 || dataLength != data.Length)
        {
            return false;
        }

        gs2Flag = dataLength > 0 ? (char)data[0] : null;
        return true;
    }

    /// <summary>Longest password or SASL message conmgr takes from a client (PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH).</summary>
    public const int MaxTokenLength = 65535;

    /// <summary>An AuthenticationRequest ('R') with <paramref name="code"/> and <paramref name="data"/> after it.</summary>
    public static byte[] Request(int code, ReadOnlySpan<byte> data = default)
    {
        var message = new byte[1 + 4 + 4 + data.Length];
        message[0] = (byte)BackendMessageCode.AuthenticationRequest;
        BinaryPrimitives.WriteInt32BigEndian(message.AsSpan(1), message.Length - 1);
        BinaryPrimitives.WriteInt32BigEndian(message.AsSpan(5), code);
        data.CopyTo(message.AsSpan(9));
        return message;
    }

    /// <summary>AuthenticationSASL: the mechanisms, each NUL-terminated, and a final NUL.</summary>
    public static byte[] Sasl(IEnumerable<string> mechanisms)
    {
        ArgumentNullException.ThrowIfNull(mechanisms);
        var data = new List<byte>();
        foreach (var mechanism in mechanisms)
        {
            data.AddRange(Encoding.ASCII.GetBytes(mechanism));
            data.Add(0);
        }

        data.Add(0);
        return Request(AuthenticationCodes.Sasl, data.ToArray());
    }

    /// <summary>The data after the request code of an AuthenticationRequest (the salt of MD5, the SASL data of Continue and Final).</summary>
    public static ReadOnlySpan<byte> RequestData(ReadOnlySpan<byte> message) => message.Length >= 9 ? message[9..] : [];

    /// <summary>The mechanisms of an AuthenticationSASL; false when the list is malformed (no final NUL, an empty list).</summary>
    public static bool TryReadMechanisms(ReadOnlySpan<byte> message, out List<string> mechanisms)
    {
        mechanisms = [];
        var data = RequestData(message);
        while (true)
        {
            var nul = data.IndexOf((byte)0);
            if (nul < 0)
            {
                return false;
            }

            if (nul == 0)
            {
                return mechanisms.Count > 0 && data.Length == 1;
            }

            mechanisms.Add(Encoding.ASCII.GetString(data[..nul]));
            data = data[(nul + 1)..];
        }
    }

    /// <summary>A client's 'p' message body as SASLInitialResponse: the mechanism and its data (null when the client sent length −1).</summary>
    public static bool TryReadSaslInitialData(ReadOnlySpan<byte> message, out string mechanism, out byte[]? data)
    {
        data = null;
        if (!TryReadSaslInitialResponse(message, out mechanism, out char? _))
        {
            return false;
        }

        var body = message[5..];
        var nul = body.IndexOf((byte)0);
        var length = BinaryPrimitives.ReadInt32BigEndian(body[(nul + 1)..]);
        data = length < 0 ? null : body[(nul + 5)..].ToArray();
        return true;
    }

    /// <summary>A client's 'p' message as PasswordMessage: the NUL-terminated text, and nothing after the NUL.</summary>
    public static bool TryReadPassword(ReadOnlySpan<byte> message, out string password)
    {
        password = string.Empty;
        if (message.Length < 6 || message[0] != (byte)'p' || message[^1] != 0)
        {
            return false;
        }

        var text = message[5..^1];
        if (text.IndexOf((byte)0) >= 0)
        {
            return false;
        }

        password = Encoding.UTF8.GetString(text);
        return true;
    }

    /// <summary>A client's 'p' message as SASLResponse: its whole body.</summary>
    public static ReadOnlySpan<byte> SaslResponseData(ReadOnlySpan<byte> message) => message.Length >= 5 && message[0] == (byte)'p' ? message[5..] : [];

    /// <summary>conmgr's own 'p' messages to a server: SASLInitialResponse.</summary>
    public static byte[] SaslInitialResponse(string mechanism, ReadOnlySpan<byte> data)
    {
        ArgumentNullException.ThrowIfNull(mechanism);
        var name = Encoding.ASCII.GetBytes(mechanism);
        var message = new byte[1 + 4 + name.Length + 1 + 4 + data.Length];
        message[0] = (byte)'p';
        BinaryPrimitives.WriteInt32BigEndian(message.AsSpan(1), message.Length - 1);
        name.CopyTo(message, 5);
        BinaryPrimitives.WriteInt32BigEndian(message.AsSpan(5 + name.Length + 1), data.Length);
        data.CopyTo(message.AsSpan(5 + name.Length + 5));
        return message;
    }

    /// <summary>SASLResponse, or PasswordMessage when <paramref name="nulTerminated"/>.</summary>
    public static byte[] Response(ReadOnlySpan<byte> data, bool nulTerminated = false)
    {
        var message = new byte[1 + 4 + data.Length + (nulTerminated ? 1 : 0)];
        message[0] = (byte)'p';
        BinaryPrimitives.WriteInt32BigEndian(message.AsSpan(1), message.Length - 1);
        data.CopyTo(message.AsSpan(5));
        return message;
    }
}
