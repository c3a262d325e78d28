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
        try {
            // Load both methods now, on the caller's background thread, rather than on the first
            // tile, and refuse the model here if either fails (e.g. a .pte newer than this runtime).
            for (method in METHODS) checkLoaded(method, module.loadMethod(method))
        } catch (e: Throwable) {
            module.destroy()
            throw e
        }
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
        val outputs = module.execute(method, *args.toTypedArray())
        check(outputs.isNotEmpty()) { "$method returned no output" }
        val out = outputs[0].toTensor()
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

        /**
         * `Module.loadMethod` returns the runtime's error code up to ExecuTorch 1.2 (0 = Ok) and
         * throws `ExecutorchRuntimeException` itself from 1.3 on (returning Unit): this accepts
         * both, so the pin in gradle.properties can move either way without a code change.
         */
        fun checkLoaded(method: String, result: Any?) {
            if (result is Int && result != 0) {
                throw IllegalStateException(
                    "ExecuTorch could not load method '$method' (error 0x${Integer.toHexString(result)}" +
                        (LOAD_ERRORS[result]?.let { ": $it" } ?: "") + "). Was the .pte exported by a newer ExecuTorch?")
            }
        }

        /** runtime/core/error.h codes that loading can return. */
        val LOAD_ERRORS = mapOf(
            0x01 to "Internal", 0x02 to "InvalidState", 0x10 to "NotSupported", 0x12 to "InvalidArgument",
            0x14 to "OperatorMissing", 0x20 to "NotFound", 0x21 to "MemoryAllocationFailed",
            0x23 to "InvalidProgram", 0x30 to "DelegateInvalidCompatibility",
        )
    }
}
