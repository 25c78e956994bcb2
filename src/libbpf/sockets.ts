// Raw TCP sockets for health probes, through libc (node:net cannot set
// SO_MARK, and a net.Socket per probe costs ~60 us of CPU: the prober's scale
// target, 10k connects/s, needs a few libc calls per probe instead).
// (1) markedTcpSocket: a marked socket handed to net.Socket (HTTP checks).
// (2) ConnectPoller: non-blocking connects watched by one epoll instance
// that the caller polls in batches (TCP checks). Nothing here allocates per
// probe: addresses are pre-encoded sockaddrs, results land in one buffer.

import koffi from 'koffi';
import { SterletError } from '../common/errors.ts';
import { lastErrno } from './ffi.ts';

const libc = koffi.load('libc.so.6');
const socketC = libc.func('int socket(int domain, int type, int protocol)');
const setsockoptC = libc.func('int setsockopt(int fd, int level, int name, const void *val, uint32 len)');
const getsockoptC = libc.func('int getsockopt(int fd, int level, int name, void *val, void *len)');
const connectC = libc.func('int connect(int fd, const void *addr, uint32 len)');
const closeC = libc.func('int close(int fd)');
const epollCreate1 = libc.func('int epoll_create1(int flags)');
const epollCtl = libc.func('int epoll_ctl(int epfd, int op, int fd, void *event)');
const epollWait = libc.func('int epoll_wait(int epfd, void *events, int maxevents, int timeout)');

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_ERROR = 4;
const SO_LINGER = 13;
const SO_MARK = 36;
const IPPROTO_TCP = 6;
const TCP_INFO = 11;
/** struct tcp_info: tcpi_rtt (u32, microseconds) is at byte 68. */
const TCP_INFO_SIZE = 104;
const TCPI_RTT = 68;
const EINPROGRESS = 115;
const EPOLL_CLOEXEC = 0o2000000;
const EPOLL_CTL_ADD = 1;
const EPOLLOUT = 0x4;
const EPOLLERR = 0x8;
const EPOLLHUP = 0x10;
/** struct epoll_event is packed on x86-64 (4 + 8 bytes), naturally aligned elsewhere. */
const EVENT_SIZE = process.arch === 'x64' ? 12 : 16;
const EVENT_DATA = process.arch === 'x64' ? 4 : 8;

function setMark(fd: number, mark: number): void {
  const value = Buffer.alloc(4);
  value.writeUInt32LE(mark >>> 0);
  if ((setsockoptC(fd, SOL_SOCKET, SO_MARK, value, 4) as number) === 0) return;
  const errno = lastErrno();
  closeC(fd);
  throw new SterletError('AGENT_SO_MARK_FAILED', `setsockopt(SO_MARK) for a health probe failed (errno ${errno})`, {
    why: 'marking sockets needs CAP_NET_ADMIN',
    fix: 'run the agent with CAP_NET_ADMIN (the chart grants it)',
  });
}

function tcpSocket(family: 4 | 6): number {
  const fd = socketC(family === 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) as number;
  if (fd >= 0) return fd;
  throw new SterletError('AGENT_SOCKET_FAILED', `socket() for a health probe failed (errno ${lastErrno()})`, {
    why: 'the process may be out of file descriptors',
    fix: 'raise the open-file limit (ulimit -n) or lower the number of health-checked backends',
  });
}

/**
 * A non-blocking, close-on-exec TCP socket (not yet connected) whose packets
 * carry `mark`; hand the fd to `new net.Socket({ fd })`, which then owns it.
 * Needs CAP_NET_ADMIN.
 */
export function markedTcpSocket(family: 4 | 6, mark: number): number {
  const fd = tcpSocket(family);
  setMark(fd, mark);
  return fd;
}

/** struct sockaddr_in / sockaddr_in6 for address bytes (4 or 16) and a port: encode once, connect many times. */
export function encodeSockaddr(address: Uint8Array, port: number): Buffer {
  if (address.length === 4) {
    const b = Buffer.alloc(16);
    b.writeUInt16LE(AF_INET, 0);
    b.writeUInt16BE(port, 2);
    b.set(address, 4);
    return b;
  }
  const b = Buffer.alloc(28);
  b.writeUInt16LE(AF_INET6, 0);
  b.writeUInt16BE(port, 2);
  b.set(address.subarray(0, 16), 8);
  return b;
}

export interface ConnectPoller {
  /**
   * Starts a non-blocking connect (SO_MARK set when `mark` is given); returns
   * the fd to wait for, or -errno when it failed at once (e.g. ENETUNREACH).
   * Throws only when no socket can be created at all (out of fds, no CAP_NET_ADMIN).
   */
  connect(sockaddr: Buffer, mark: number | undefined): number;
  /**
   * Completed connects since the last call (never blocks); their fds are closed
   * before `onDone` runs. errno 0 = connected; rttUs is the kernel's RTT sample
   * of the handshake (tcp_info), 0 when it failed.
   */
  poll(onDone: (fd: number, errno: number, rttUs: number) => void): number;
  /** Gives up on a connect still in progress (timeout): closes its fd. */
  abort(fd: number): void;
  close(): void;
}

const BATCH = 1024;
const LINGER_RESET = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]); // struct linger { l_onoff = 1, l_linger = 0 }

/**
 * One epoll instance for many connects. A finished probe closes with
 * SO_LINGER 0 (an RST, as HAProxy's checks do): no FIN exchange and no
 * TIME_WAIT entry per probe, which at 10k probes/s would be 600k sockets.
 */
export function openConnectPoller(): ConnectPoller {
  const epfd = epollCreate1(EPOLL_CLOEXEC) as number;
  if (epfd < 0) {
    throw new SterletError('AGENT_EPOLL_FAILED', `epoll_create1 for health probes failed (errno ${lastErrno()})`, {
      why: 'the process may be out of file descriptors',
      fix: 'raise the open-file limit (ulimit -n)',
    });
  }
  const event = Buffer.alloc(EVENT_SIZE);
  const events = Buffer.alloc(EVENT_SIZE * BATCH);
  const info = Buffer.alloc(TCP_INFO_SIZE);
  const intBuf = Buffer.alloc(4);
  const lenBuf = Buffer.alloc(4);
  // Only a connected socket needs the RST; a refused or abandoned one just closes.
  const finish = (fd: number, connected: boolean): void => {
    if (connected) setsockoptC(fd, SOL_SOCKET, SO_LINGER, LINGER_RESET, LINGER_RESET.length);
    closeC(fd);
  };
  return {
    connect(sockaddr, mark) {
      const fd = tcpSocket(sockaddr.length === 16 ? 4 : 6);
      if (mark !== undefined) setMark(fd, mark);
      if ((connectC(fd, sockaddr, sockaddr.length) as number) !== 0) {
        const errno = lastErrno();
        if (errno !== EINPROGRESS) {
          closeC(fd);
          return -errno;
        }
      }
      event.writeUInt32LE(EPOLLOUT, 0);
      event.writeUInt32LE(fd, EVENT_DATA);
      event.writeUInt32LE(0, EVENT_DATA + 4);
      if ((epollCtl(epfd, EPOLL_CTL_ADD, fd, event) as number) !== 0) {
        const errno = lastErrno();
        closeC(fd);
        return -errno;
      }
      return fd;
    },
    poll(onDone) {
      let total = 0;
      for (;;) {
        const n = epollWait(epfd, events, BATCH, 0) as number;
        for (let i = 0; i < n; i++) {
          const flags = events.readUInt32LE(i * EVENT_SIZE);
          const fd = events.readUInt32LE(i * EVENT_SIZE + EVENT_DATA);
          let errno = 0;
          let rttUs = 0;
          if ((flags & (EPOLLERR | EPOLLHUP)) !== 0) {
            lenBuf.writeUInt32LE(4, 0);
            errno = (getsockoptC(fd, SOL_SOCKET, SO_ERROR, intBuf, lenBuf) as number) === 0 ? intBuf.readInt32LE(0) : lastErrno();
            if (errno === 0) errno = 104; // hung up without an error: ECONNRESET
          } else {
            lenBuf.writeUInt32LE(TCP_INFO_SIZE, 0);
            if ((getsockoptC(fd, IPPROTO_TCP, TCP_INFO, info, lenBuf) as number) === 0) rttUs = info.readUInt32LE(TCPI_RTT);
          }
          // Closing removes the fd from the epoll set (nothing else holds it).
          finish(fd, errno === 0);
          onDone(fd, errno, rttUs);
        }
        total += n;
        if (n < BATCH) return total;
      }
    },
    abort(fd) {
      finish(fd, false);
    },
    close() {
      closeC(epfd);
    },
  };
}
