// The C library's close(2) and read(2) under names that nothing of ours shadows:
// inside InputFile, which has close() and read(into:) methods of its own, an
// unqualified `close(fd)` or `read(...)` would name the method instead.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// close(2): 0, or -1 with errno set.
@inline(__always)
func closeFileDescriptor(_ descriptor: Int32) -> Int32 {
    close(descriptor)
}

/// read(2): the bytes read, 0 at the end of input, or -1 with errno set.
@inline(__always)
func readFileDescriptor(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(descriptor, buffer, count)
}
