import Layers
import Tensors

extension DualDecoderModel {
    /// Forward, loss and backward for one batch: zeroes the gradients, then leaves d(total)/dw in
    /// `parameters.gradients` (ready for an allreduce and an optimiser update) and returns the
    /// loss terms. BN moving statistics are updated when `context.training` is true.
    @discardableResult
    public func computeGradients(flux: Tensor, labels: Labels, context: ForwardContext,
                                 globalBatch: Int? = nil, loss: DeblendLoss = DeblendLoss()) throws -> LossTerms {
        let outputs = try forward(flux, context: context)
        let evaluate = { try loss.evaluate(outputs: outputs, labels: labels, flux: flux, globalBatch: globalBatch) }
        let (terms, grads) = try profiler.map { try $0.measure("loss", evaluate) } ?? evaluate()
        parameters.zeroGradients()
        backward(grads)
        return terms
    }
}
