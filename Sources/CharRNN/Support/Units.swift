// Losses are kept in nats (natural log) and shown in bits as well.

public enum Units {
    /// 1 / ln 2: multiply a loss in nats by this for bits.
    public static let bitsPerNat = 1 / 0.693_147_180_559_945_3
}
