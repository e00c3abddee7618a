// Naive reference twins of VectorMath.swift: libm in Double precision, one value at a
// time. They are what the tests measure the SIMD polynomials against, and a plain
// fallback to read when in doubt about what a function is meant to return. Double
// libm is accurate to well under a Float ulp (its error is ~1e-16), so the *Double
// forms serve as the exact value and the Float forms are that value correctly
// rounded, except in the rare halfway cases.
// Too slow for hot loops (4-21 ns a call against < 1 ns for the SIMD versions).

import CharRNN

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// e^x in Double.
public func expReferenceDouble(_ x: Float) -> Double { exp(Double(x)) }

/// 1 / (1 + e^-x) in Double; written as e^x / (1 + e^x) for x < 0 so the Double
/// result keeps full relative accuracy far below Float's range.
public func sigmoidReferenceDouble(_ x: Float) -> Double {
    let d = Double(x)
    if d < 0 {
        let e = exp(d)
        return e / (1 + e)
    }
    return 1 / (1 + exp(-d))
}

/// tanh x in Double.
public func tanhReferenceDouble(_ x: Float) -> Double { tanh(Double(x)) }

/// log x in Double (NaN for x < 0, -inf for 0).
public func logReferenceDouble(_ x: Float) -> Double { log(Double(x)) }

/// e^x rounded to Float.
public func expReference(_ x: Float) -> Float { Float(expReferenceDouble(x)) }

/// 1 / (1 + e^-x) rounded to Float.
public func sigmoidReference(_ x: Float) -> Float { Float(sigmoidReferenceDouble(x)) }

/// tanh x rounded to Float.
public func tanhReference(_ x: Float) -> Float { Float(tanhReferenceDouble(x)) }

/// log x rounded to Float.
public func logReference(_ x: Float) -> Float { Float(logReferenceDouble(x)) }
