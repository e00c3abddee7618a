// TEMPORARY stand-in with the final API; replaced by SIMD polynomial versions.
#if canImport(Glibc)
import Glibc
#endif

@inlinable public func vexp(_ x: SIMD8<Float>) -> SIMD8<Float> { var r = x; for i in 0..<8 { r[i] = Glibc.expf(x[i]) }; return r }
@inlinable public func vsigmoid(_ x: SIMD8<Float>) -> SIMD8<Float> { var r = x; for i in 0..<8 { r[i] = 1 / (1 + Glibc.expf(-x[i])) }; return r }
@inlinable public func vtanh(_ x: SIMD8<Float>) -> SIMD8<Float> { var r = x; for i in 0..<8 { r[i] = Glibc.tanhf(x[i]) }; return r }
@inlinable public func vlog(_ x: SIMD8<Float>) -> SIMD8<Float> { var r = x; for i in 0..<8 { r[i] = Glibc.logf(x[i]) }; return r }
@inlinable public func expf32(_ x: Float) -> Float { vexp(SIMD8(repeating: x))[0] }
@inlinable public func sigmoidf32(_ x: Float) -> Float { vsigmoid(SIMD8(repeating: x))[0] }
@inlinable public func tanhf32(_ x: Float) -> Float { vtanh(SIMD8(repeating: x))[0] }
@inlinable public func logf32(_ x: Float) -> Float { vlog(SIMD8(repeating: x))[0] }
