// StartupReader.cs: reads one startup-phase packet from a socket or TLS stream, within a deadline and a size bound.
using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using ConMgr.Protocol;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Clients;

/// <summary>The outcome of reading a startup packet.</summary>
public readonly record struct StartupReadResult(StartupPacket? Packet, string? Error, bool PeerClosed, bool TimedOut);

/// <summary>
/// Reads from the socket until <see cref="StartupPacketDecoder"/> has one whole packet. A
/// connection that has not yet sent its length word holds no buffer (it waits with a zero-byte
/// read); the body's buffer is rented only after the decoder accepted the length word, so it is
/// never larger than <see cref="StartupCodes.MaxStartupPacketLength"/> and never sized by an
/// unchecked value from the wire.
/// </summary>
public static class StartupReader
{
    private const int LengthWord = 4;

    /// <summary>Reads from a plaintext socket; bytes after the packet are an error (the client must wait for the answer).</summary>
    public static Task<StartupReadResult> ReadAsync(Socket socket, CancellationToken deadline)
    {
        ArgumentNullException.ThrowIfNull(socket);
        return ReadAsync(new SocketSource(socket), deadline);
    }

    /// <summary>Reads from a TLS stream (the startup packet after the handshake).</summary>
    public static Task<StartupReadResult> ReadAsync(Stream stream, CancellationToken deadline)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return ReadAsync(new StreamSource(stream), deadline);
    }

    private static async Task<StartupReadResult> ReadAsync(IByteSource source, CancellationToken deadline)
    {
        try
        {
            var header = new byte[LengthWord];
            if (!await ReceiveExactlyAsync(source, header, deadline))
            {
                return new StartupReadResult(null, null, true, false);
            }

            if (StartupPacketDecoder.TryDecode(new ReadOnlySequence<byte>(header), out _, out _, out var lengthError) == DecodeStatus.Invalid)
            {
                return new StartupReadResult(null, lengthError, false, false);
            }

            var length = BinaryPrimitives.ReadInt32BigEndian(header);
            var packet = ArrayPool<byte>.Shared.Rent(length);
            try
            {
                header.CopyTo(packet, 0);
                if (!await ReceiveExactlyAsync(source, packet.AsMemory(LengthWord, length - LengthWord), deadline))
                {
                    return new StartupReadResult(null, null, true, false);
                }

                var status = StartupPacketDecoder.TryDecode(new ReadOnlySequence<byte>(packet, 0, length), out var decoded, out _, out var error);
                if (status != DecodeStatus.Complete)
                {
                    return new StartupReadResult(null, error ?? "invalid startup packet", false, false);
                }

                // A client must wait for our answer before sending more; PostgreSQL treats extra bytes as a violation.
                return source.HasMore
                    ? new StartupReadResult(null, "unexpected data after the startup packet", false, false)
                    : new StartupReadResult(decoded, null, false, false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(packet);
            }
        }
        catch (OperationCanceledException)
        {
            return new StartupReadResult(null, null, false, true);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException)
        {
            return new StartupReadResult(null, null, true, false);
        }
    }

    /// <summary>Fills <paramref name="buffer"/>, waiting with zero-byte reads; false when the peer closed first.</summary>
    private static async Task<bool> ReceiveExactlyAsync(IByteSource source, Memory<byte> buffer, CancellationToken deadline)
    {
        var filled = 0;
        while (filled < buffer.Length)
        {
            if (!source.HasMore)
            {
                await source.ReceiveAsync(Memory<byte>.Empty, deadline);
            }

            var read = await source.ReceiveAsync(buffer[filled..], deadline);
            if (read == 0)
            {
                return false;
            }

            filled += read;
        }

        return true;
    }

    /// <summary>Where the packet's bytes come from: the socket, or the TLS stream over it.</summary>
    private interface IByteSource
    {
        /// <summary>True when bytes are known to be waiting (a TLS stream cannot tell: false).</summary>
        bool HasMore { get; }

        ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken);
    }

    private sealed class SocketSource(Socket socket) : IByteSource
    {
        public bool HasMore => socket.Available > 0;

        public ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) => socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
    }

    private sealed class StreamSource(Stream stream) : IByteSource
    {
        public bool HasMore => false;

        public ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) => stream.ReadAsync(buffer, cancellationToken);
    }
}
