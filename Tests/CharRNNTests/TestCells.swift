// Cells only the tests know. A cell written for a test (in this target, one
// file, its MODL code in CellRegistry.testCodes) is registered here, once,
// before any test lists the cells: every test that runs over the cells takes
// `CellKind.tested`, so it runs the test cells too (gradients against finite
// differences, the fast engine against the naive twin, training, resuming,
// sampling, safetensors) beside the built-in ones.

@testable import CharRNN

enum TestCells {
    /// Registers the test cells, once per process.
    static let registered: Void = {
        // One line per test cell.
        CellRegistry.register(LinearRNNCell.self)
    }()
}

extension CellKind {
    /// Every cell, the tests' own included: what generic tests run over.
    static var tested: [CellKind] {
        TestCells.registered
        return allCases
    }
}
