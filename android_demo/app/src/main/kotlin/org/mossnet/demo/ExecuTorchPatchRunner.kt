package org.mossnet.demo

import org.mossnet.core.Manifest
import org.mossnet.core.PatchRunner
import org.mossnet.core.QuantParams
import org.mossnet.core.TensorSpec
import org.pytorch.executorch.EValue
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor

/**
 * The core's [PatchRunner] on the ExecuTorch Android runtime: the `.pte` holds both programs as
 * methods (`context`, `upscale_patch`), lowered to XNNPACK. Shapes and any int8 I/O come from
 * the manifest, so a re-exported model with another tiling needs no code change.
 */
class ExecuTorchPatchRunner(ptePath: String, private val manifest: Manifest) : PatchRunner {
    private val module: Module = Module.load(ptePath)

    init {
        // Load both methods now, on the caller's background thread, rather than on the first tile.
        for (method in METHODS) module.loadMethod(method)
    }

    override fun context(thumbnail: FloatArray): FloatArray = run("context", thumbnail)

    override fun upscalePatch(patch: FloatArray, modulation: FloatArray): FloatArray =
        run("upscale_patch", patch, modulation)

    private fun run(method: String, vararg inputs: FloatArray): FloatArray {
        val signature = manifest.program(method)
        require(inputs.size == signature.inputs.size) { "$method takes ${signature.inputs.size} inputs" }
        val args = inputs.mapIndexed { i, data ->
            EValue.from(tensor(data, signature.inputs[i], manifest.inputQuant(method, i)))
        }
        val out = module.execute(method, *args.toTypedArray())[0].toTensor()
        val spec = signature.outputs[0]
        val result = manifest.outputQuant(method, 0)?.dequantize(out.dataAsByteArray) ?: out.dataAsFloatArray
        check(result.size == spec.elementCount) { "$method returned ${result.size} values, not ${spec.shape}" }
        return result
    }

    private fun tensor(data: FloatArray, spec: TensorSpec, quant: QuantParams?): Tensor {
        require(data.size == spec.elementCount) { "${spec.name}: ${data.size} values for shape ${spec.shape}" }
        val shape = LongArray(spec.shape.size) { spec.shape[it].toLong() }
        return if (quant == null) Tensor.fromBlob(data, shape) else Tensor.fromBlob(quant.quantize(data), shape)
    }

    /** Frees the native program now instead of at garbage collection. */
    override fun close() = module.destroy()

    private companion object {
        val METHODS = listOf("context", "upscale_patch")
    }
}
