// HeartbeatChannel.cs: heartbeat frames over one socket: zero-byte-read receive, non-blocking send.
using System.Buffers;
using System.Net;
using System.Net.Sockets;
using ConMgr.Protocol;
using ConMgr.Protocol.Heartbeat;

namespace ConMgr.Heartbeat;

/// <summary>A protocol error from the peer; the connection must be closed.</summary>
public sealed class HeartbeatProtocolException : Exception
{
    public HeartbeatProtocolException(string message)
        : base(message)
    {
    }

    public HeartbeatProtocolException()
    {
    }

    public HeartbeatProtocolException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// Frames over a connected socket. Receiving waits with a zero-byte read, so an idle link holds
/// no buffer (thousands of links stay cheap); bytes of a partial frame are kept in a small
/// per-link array only until the frame completes. Sending never blocks: frames are tiny, and a
/// peer that leaves a whole socket send buffer unread is treated as gone.
/// </summary>
public sealed class HeartbeatChannel : IDisposable
{
    private const int ReceiveChunk = 4096;

    private readonly Socket _socket;
    private readonly Lock _sendGate = new();
    private byte[]? _partial;
    private int _partialLength;
    private int _disposed;

    public HeartbeatChannel(Socket socket)
    {
        _socket = socket ?? throw new ArgumentNullException(nameof(socket));
        Remote = socket.RemoteEndPoint as IPEndPoint;

        // Synchronous sends must never wait: see TrySend. Async receives are unaffected.
        socket.Blocking = false;
        Local = socket.LocalEndPoint as IPEndPoint;
    }

    public IPEndPoint? Remote { get; }

    public IPEndPoint? Local { get; }

    /// <summary>
    /// Waits for the next bytes and decodes every whole frame they complete, calling
    /// <paramref name="onFrame"/> for each. Returns false when the peer closed the connection.
    /// </summary>
    public async ValueTask<bool> ReceiveAsync(Action<HeartbeatFrame> onFrame, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(onFrame);
        await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, cancellationToken);
        var buffer = ArrayPool<byte>.Shared.Rent(HeartbeatCodec.MaxFrameLength + ReceiveChunk);
        try
        {
            var filled = _partialLength;
            if (filled > 0)
            {
                _partial.AsSpan(0, filled).CopyTo(buffer);
                _partialLength = 0;
            }

            var read = await _socket.ReceiveAsync(buffer.AsMemory(filled, ReceiveChunk), SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                return false;
            }

            filled += read;
            var offset = 0;
            while (true)
            {
                var status = HeartbeatCodec.TryDecode(new ReadOnlySequence<byte>(buffer, offset, filled - offset), out var frame, out var consumed, out var error);
                if (status == DecodeStatus.Invalid)
                {
                    throw new HeartbeatProtocolException(error ?? "invalid frame");
                }

                if (status == DecodeStatus.NeedMoreData)
                {
                    break;
                }

                offset += (int)consumed;
                onFrame(frame!);
            }

            KeepPartial(buffer.AsSpan(offset, filled - offset));
            return true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Sends one frame without blocking; false when the socket is closed or its send buffer is full.</summary>
    public bool TrySend(HeartbeatFrame frame)
    {
        Span<byte> bytes = stackalloc byte[HeartbeatCodec.MaxFrameLength];
        var length = HeartbeatCodec.Encode(frame, bytes);
        lock (_sendGate)
        {
            if (Volatile.Read(ref _disposed) != 0)
            {
                return false;
            }

            try
            {
                var sent = _socket.Send(bytes[..length], SocketFlags.None, out var error);
                return error == SocketError.Success && sent == length;
            }
            catch (ObjectDisposedException)
            {
                return false;
            }
        }
    }

    /// <summary>
    /// Hands the connection to the heartbeat reactor after the handshake: a descriptor of its own
    /// (taken out of .NET's epoll, see RuntimeEpoll) and the bytes received after the last whole
    /// frame. The channel is closed without shutting the connection down.
    /// </summary>
    public (int Fd, byte[] Leftover) Detach()
    {
        lock (_sendGate)
        {
            ObjectDisposedException.ThrowIf(Interlocked.Exchange(ref _disposed, 1) != 0, this);
            var leftover = _partial.AsSpan(0, _partialLength).ToArray();
            var fd = Hosting.Posix.RuntimeEpoll.Adopt(_socket);
            _socket.Dispose();
            return (fd, leftover);
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        lock (_sendGate)
        {
            try
            {
                _socket.Shutdown(SocketShutdown.Both);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
            }

            _socket.Dispose();
        }
    }

    private void KeepPartial(ReadOnlySpan<byte> rest)
    {
        if (rest.IsEmpty)
        {
            _partial = null;
            return;
        }

        if (rest.Length >= HeartbeatCodec.MaxFrameLength)
        {
            throw new HeartbeatProtocolException("frame larger than the maximum");
        }

        _partial ??= new byte[HeartbeatCodec.MaxFrameLength];
        rest.CopyTo(_partial);
        _partialLength = rest.Length;
    }
}
