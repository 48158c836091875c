package main

import (
	"io"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// consoleSocket listens at path for the runtime's pty master (--console-socket) and copies
// what the container writes to it into out; wait() returns once the pty has closed.
func consoleSocket(path string, out io.Writer) (wait func(), err error) {
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.AcceptUnix()
		if err != nil {
			return
		}
		defer c.Close()
		buf, oob := make([]byte, 64), make([]byte, 256)
		_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil {
			return
		}
		msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) == 0 {
			return
		}
		fds, err := syscall.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) == 0 {
			return
		}
		master := os.NewFile(uintptr(fds[0]), "pty-master")
		defer master.Close()
		io.Copy(out, master) //nolint:errcheck // ends with EIO when the last slave closes
	}()
	return func() {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
		l.Close()
	}, nil
}

// isTerminal: TCGETS works on fd.
func isTerminal(fd int) bool {
	var termios syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TCGETS,
		uintptr(unsafe.Pointer(&termios)))
	return errno == 0
}
