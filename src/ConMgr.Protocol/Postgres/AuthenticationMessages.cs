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
}
