import _Differentiation
import VariationalCore

/// The pieces of the ELBO an estimator can ask a variational problem for.
///
/// Every estimator is a different reduction of the same few terms; a problem (a Bayesian model with a global
/// family, or a VAE with an encoder) computes only those asked for.
public struct ELBOTermSet: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// log p(x, z), with the log-Jacobian of the map onto the support and minibatch scaling of global terms.
    public static let logJoint = ELBOTermSet(rawValue: 1 << 0)
    /// log p(x | z) alone (with `klToPrior`, for the analytic-KL estimator).
    public static let logLikelihood = ELBOTermSet(rawValue: 1 << 1)
    /// KL(q ‖ p(z)) in closed form, per latent unit.
    public static let klToPrior = ELBOTermSet(rawValue: 1 << 2)
    /// log q(z) at the particles, differentiable through the particles and the parameters.
    public static let logQ = ELBOTermSet(rawValue: 1 << 3)
    /// log q(z) with q's parameters held fixed: the gradient flows along the sample path only.
    public static let pathLogQ = ELBOTermSet(rawValue: 1 << 4)
    /// The entropy of q in closed form.
    public static let entropy = ELBOTermSet(rawValue: 1 << 5)
    /// A modifier: the particles carry no gradient (score-function estimators), so neither does log p(x, z)
    /// through them; log q then differentiates through q's parameters only.
    public static let stoppedSample = ELBOTermSet(rawValue: 1 << 6)

    static let names: [(ELBOTermSet, String)] = [
        (.logJoint, "log p(x, z)"), (.logLikelihood, "log p(x | z)"), (.klToPrior, "a closed-form KL(q ‖ p(z))"),
        (.logQ, "log q(z)"), (.pathLogQ, "log q(z) at fixed parameters"), (.entropy, "a closed-form entropy of q"),
        (.stoppedSample, "log q at arbitrary points"),
    ]

    public var description: String {
        let parts = Self.names.filter { contains($0.0) }.map(\.1)
        return parts.isEmpty ? "no terms" : parts.joined(separator: ", ")
    }
}

/// The terms of the ELBO at one draw of noise, as differentiable tensors. S is the number of particles, B the
/// number of datapoints with latents of their own (1 for a model with global latents only, whose minibatch
/// likelihood is then already scaled by N/B; its reparameterised terms may leave the datapoint axis out, [S] and a
/// scalar, which every reduction reads alike). A term not asked for is the symbolic zero.
public struct ELBOTerms<Scalar: TensorScalar>: Differentiable {
    /// log p(x_b, z_sb): [S, B].
    public var logJoint: Tensor<Scalar>
    /// log p(x_b | z_sb): [S, B].
    public var logLikelihood: Tensor<Scalar>
    /// KL(q(z_b) ‖ p(z_b)) per datapoint and latent unit: [B, units].
    public var klToPrior: Tensor<Scalar>
    /// log q(z_sb): [S, B].
    public var logQ: Tensor<Scalar>
    /// log q(z_sb) with q's parameters held fixed: [S, B].
    public var pathLogQ: Tensor<Scalar>
    /// H(q(z_b)): [B].
    public var entropy: Tensor<Scalar>

    @differentiable(reverse)
    public init(
        logJoint: Tensor<Scalar> = .zero, logLikelihood: Tensor<Scalar> = .zero, klToPrior: Tensor<Scalar> = .zero,
        logQ: Tensor<Scalar> = .zero, pathLogQ: Tensor<Scalar> = .zero, entropy: Tensor<Scalar> = .zero
    ) {
        self.logJoint = logJoint
        self.logLikelihood = logLikelihood
        self.klToPrior = klToPrior
        self.logQ = logQ
        self.pathLogQ = pathLogQ
        self.entropy = entropy
    }

    /// The log importance weights log p(x, z) − log q(z) as values (no gradient): [S, B].
    public var logWeights: Tensor<Scalar> { withoutDerivative(at: logJoint - logQ) }
}
