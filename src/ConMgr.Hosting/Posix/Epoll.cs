// Epoll.cs: the Linux calls the reactors are made of (epoll, eventfd, recv/send on raw descriptors); no state, no allocation.
using System.Runtime.InteropServices;

namespace ConMgr.Hosting.Posix;

/// <summary>
/// Thin P/Invoke layer. <c>struct epoll_event</c> is packed (12 bytes) on x86-64 and naturally
/// aligned (16 bytes) elsewhere, so events are read from a byte buffer at the offsets of the
/// running architecture rather than through a struct whose layout would be right on one only.
/// </summary>
public static unsafe partial class Epoll
{
    public const uint In = 0x001;
    public const uint Out = 0x004;
    public const uint Err = 0x008;
    public const uint Hup = 0x010;
    public const uint RdHup = 0x2000;

    public const int EAGAIN = 11;
    public const int EINTR = 4;
    public const int ECONNRESET = 104;
    public const int EPIPE = 32;

    private const int CloExec = 0x80000;
    private const int NonBlock = 0x800;
    private const int CtlAdd = 1;
    private const int CtlDel = 2;
    private const int CtlMod = 3;
    private const int MsgDontWait = 0x40;
    private const int MsgNoSignal = 0x4000;
    private const int DupFdCloExec = 1030;

    /// <summary>Bytes per event in the kernel's array.</summary>
    public static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;

    /// <summary>Offset of the 64-bit data field in an event.</summary>
    private static readonly int DataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    public static int Create() => Check(epoll_create1(CloExec), "epoll_create1");

    public static int CreateEventFd() => Check(eventfd(0, NonBlock | CloExec), "eventfd");

    /// <summary>Watches <paramref name="fd"/> for input (and hang-up), tagged with <paramref name="data"/>.</summary>
    public static void Add(int epoll, int fd, ulong data) => Add(epoll, fd, data, In | RdHup);

    /// <summary>Watches <paramref name="fd"/> for exactly <paramref name="events"/> (hang-up and errors are always reported).</summary>
    public static void Add(int epoll, int fd, ulong data, uint events) => Control(epoll, CtlAdd, fd, data, events, "epoll_ctl(ADD)");

    /// <summary>Changes what <paramref name="fd"/> is watched for.</summary>
    public static void Modify(int epoll, int fd, ulong data, uint events) => Control(epoll, CtlMod, fd, data, events, "epoll_ctl(MOD)");

    public static void Remove(int epoll, int fd) => epoll_ctl(epoll, CtlDel, fd, null);

    private static void Control(int epoll, int op, int fd, ulong data, uint events, string call)
    {
        var ev = stackalloc byte[16];
        *(uint*)ev = events;
        *(ulong*)(ev + DataOffset) = data;
        Check(epoll_ctl(epoll, op, fd, ev), call);
    }

    /// <summary>Waits up to <paramref name="timeoutMs"/>; returns the number of events in <paramref name="events"/>, 0 on EINTR.</summary>
    public static int Wait(int epoll, byte[] events, int timeoutMs)
    {
        fixed (byte* p = events)
        {
            var n = epoll_wait(epoll, p, events.Length / EventSize, timeoutMs);
            return n >= 0 ? n : Marshal.GetLastPInvokeError() == EINTR ? 0 : throw new IOException($"epoll_wait failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    public static uint EventsAt(byte[] events, int index) => BitConverter.ToUInt32(events, index * EventSize);

    public static ulong DataAt(byte[] events, int index) => BitConverter.ToUInt64(events, (index * EventSize) + DataOffset);

    /// <summary>A new descriptor for the same socket, owned by the caller (close-on-exec).</summary>
    public static int Duplicate(nint fd) => Check(fcntl((int)fd, DupFdCloExec, 0), "fcntl(F_DUPFD_CLOEXEC)");

    /// <summary>Non-blocking receive; &gt; 0 bytes, 0 at end of stream, −errno on error (−EAGAIN: nothing yet).</summary>
    public static int Receive(int fd, Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            var n = recv(fd, p, buffer.Length, MsgDontWait);
            return n >= 0 ? (int)n : -Marshal.GetLastPInvokeError();
        }
    }

    /// <summary>Non-blocking send without SIGPIPE; the bytes sent, or −errno.</summary>
    public static int Send(int fd, ReadOnlySpan<byte> bytes)
    {
        fixed (byte* p = bytes)
        {
            var n = send(fd, p, bytes.Length, MsgDontWait | MsgNoSignal);
            return n >= 0 ? (int)n : -Marshal.GetLastPInvokeError();
        }
    }

    /// <summary>Adds one to an eventfd (wakes a waiting epoll).</summary>
    public static void Signal(int eventFd)
    {
        ulong one = 1;
        _ = write(eventFd, (byte*)&one, sizeof(ulong));
    }

    /// <summary>Resets an eventfd.</summary>
    public static void Drain(int eventFd)
    {
        ulong value;
        _ = read(eventFd, (byte*)&value, sizeof(ulong));
    }

    public static void Close(int fd) => _ = close(fd);

    /// <summary>A connected pair of Unix stream sockets (close-on-exec), as two descriptors.</summary>
    public static (int First, int Second) SocketPair()
    {
        const int AfUnix = 1;
        const int SockStream = 1;
        var fds = stackalloc int[2];
        Check(socketpair(AfUnix, SockStream | CloExec, 0, fds), "socketpair");
        return (fds[0], fds[1]);
    }

    private static int Check(int result, string call) =>
        result >= 0 ? result : throw new IOException($"{call} failed: errno {Marshal.GetLastPInvokeError()}");

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_create1(int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int socketpair(int domain, int type, int protocol, int* fds);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_ctl(int epfd, int op, int fd, byte* ev);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_wait(int epfd, byte* events, int maxevents, int timeout);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int eventfd(uint initval, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fcntl(int fd, int cmd, int arg);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint recv(int fd, byte* buf, nint len, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint send(int fd, byte* buf, nint len, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint read(int fd, byte* buf, nint count);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint write(int fd, byte* buf, nint count);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);
}
