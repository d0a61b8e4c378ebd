// StartupReader.cs: reads one startup-phase packet from a socket, within a deadline and a size bound.
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

    public static async Task<StartupReadResult> ReadAsync(Socket socket, CancellationToken deadline)
    {
        ArgumentNullException.ThrowIfNull(socket);
        try
        {
            var header = new byte[LengthWord];
            if (!await ReceiveExactlyAsync(socket, header, deadline))
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
                if (!await ReceiveExactlyAsync(socket, packet.AsMemory(LengthWord, length - LengthWord), deadline))
                {
                    return new StartupReadResult(null, null, true, false);
                }

                var status = StartupPacketDecoder.TryDecode(new ReadOnlySequence<byte>(packet, 0, length), out var decoded, out _, out var error);
                if (status != DecodeStatus.Complete)
                {
                    return new StartupReadResult(null, error ?? "invalid startup packet", false, false);
                }

                // A client must wait for our answer before sending more; PostgreSQL treats extra bytes as a violation.
                return socket.Available > 0
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
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return new StartupReadResult(null, null, true, false);
        }
    }

    /// <summary>Fills <paramref name="buffer"/>, waiting with zero-byte reads; false when the peer closed first.</summary>
    private static async Task<bool> ReceiveExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken deadline)
    {
        var filled = 0;
        while (filled < buffer.Length)
        {
            if (socket.Available == 0)
            {
                await socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, deadline);
            }

            var read = await socket.ReceiveAsync(buffer[filled..], SocketFlags.None, deadline);
            if (read == 0)
            {
                return false;
            }

            filled += read;
        }

        return true;
    }
}
