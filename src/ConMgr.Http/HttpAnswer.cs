// HttpAnswer.cs: one response of an HTTP port: status, content type and body, built in one place.
using System.Text;
using System.Text.Json;

namespace ConMgr.Http;

/// <summary>What a path answers. Every response of conmgr's and the watchdog's HTTP ports is one of these, written by <see cref="HttpPort"/>.</summary>
public readonly record struct HttpAnswer(int Status, string ContentType, ReadOnlyMemory<byte> Body)
{
    private static readonly byte[] True = "true"u8.ToArray();
    private static readonly byte[] False = "false"u8.ToArray();

    /// <summary>The second seed's health answer: 200 with body <c>true</c>, or 503 with body <c>false</c>.</summary>
    public static HttpAnswer Boolean(bool ok) => new(ok ? 200 : 503, "text/plain; charset=utf-8", ok ? True : False);

    /// <summary>A JSON body written by hand with <see cref="Utf8JsonWriter"/> (no reflection: Native AOT needs no serializer context).</summary>
    public static HttpAnswer Json(int status, Action<Utf8JsonWriter> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            write(json);
        }

        return new(status, "application/json", buffer.ToArray());
    }

    /// <summary>A JSON body already serialized (e.g. by a source-generated context).</summary>
    public static HttpAnswer Json(int status, byte[] utf8) => new(status, "application/json", utf8);

    /// <summary>400 with the reason in plain text, for a query parameter that does not parse.</summary>
    public static HttpAnswer BadRequest(string reason) => new(400, "text/plain; charset=utf-8", Encoding.UTF8.GetBytes(reason + "\n"));
}
