// StartupReader.cs: reads one startup-phase packet from a socket, within a deadline and a size bound.
using ConMgr.Protocol;
using System.Buffers;
using System.Net.Sockets;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Clients;

/// <summary>The outcome of reading a startup packet.</summary>
public readonly record struct StartupReadResult(StartupPacket? Packet, string? Error, bool PeerClosed, bool TimedOut);

/// <summary>
/// Reads from the socket until <see cref="StartupPacketDecoder"/> has one whole packet. The buffer
/// never exceeds <see cref="StartupCodes.MaxStartupPacketLength"/>: the decoder rejects a larger
/// length word before the body is read.
/// </summary>
public static class StartupReader
{
    public static async Task<StartupReadResult> ReadAsync(Socket socket, CancellationToken deadline)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var buffer = ArrayPool<byte>.Shared.Rent(StartupCodes.MaxStartupPacketLength);
        try
        {
            var filled = 0;
            while (true)
            {
                var status = StartupPacketDecoder.TryDecode(new ReadOnlySequence<byte>(buffer, 0, filled), out var packet, out var consumed, out var error);
                switch (status)
                {
                    case DecodeStatus.Complete when consumed == filled:
                        return new StartupReadResult(packet, null, false, false);
                    case DecodeStatus.Complete:
                        // A client must wait for our answer before sending more; PostgreSQL treats extra bytes as a violation.
                        return new StartupReadResult(null, "unexpected data after the startup packet", false, false);
                    case DecodeStatus.Invalid:
                        return new StartupReadResult(null, error, false, false);
                }

                int read;
                try
                {
                    read = await socket.ReceiveAsync(buffer.AsMemory(filled, StartupCodes.MaxStartupPacketLength - filled), SocketFlags.None, deadline);
                }
                catch (OperationCanceledException)
                {
                    return new StartupReadResult(null, null, false, true);
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                    return new StartupReadResult(null, null, true, false);
                }

                if (read == 0)
                {
                    return new StartupReadResult(null, null, true, false);
                }

                filled += read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
