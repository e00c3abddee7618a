// The toolkit's version, shown by every tool's --version together with the
// checkpoint format version it reads and writes.

public enum CharRNNVersion {
    /// Semantic version of the tools and library.
    public static let release = "0.3.0"

    /// What `--version` prints, e.g. "charrnn-epoch 0.3.0 (checkpoint format 1.5)": the newest format it reads and writes.
    public static func line(tool: String) -> String {
        "\(tool) \(release) (checkpoint format \(CheckpointFormat.newestVersion.major).\(CheckpointFormat.newestVersion.minor))"
    }
}
