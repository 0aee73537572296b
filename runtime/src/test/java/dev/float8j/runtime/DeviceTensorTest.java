package dev.float8j.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.float8j.plan.Fp8Format;
import dev.float8j.plan.QuantSpec;
import dev.float8j.plan.ScalingGranularity;
import dev.float8j.runtime.backend.Backend;
import dev.float8j.runtime.backend.ReferenceBackend;
import dev.float8j.runtime.nn.Linear;
import org.junit.jupiter.api.Test;

/** Tensors that live on a device: what the host may and may not do with them (no GPU needed). */
class DeviceTensorTest {
    private static final DeviceData SOMEWHERE = () -> "test-device";

    @Test
    void elementAccessOfADeviceTensorSaysWhereItLives() {
        Tensor t = Tensor.onDevice(SOMEWHERE, DType.F32, 4, 6);
        assertTrue(t.isOnDevice());
        for (Runnable access : new Runnable[] {() -> t.get(0, 0), () -> t.set(0, 0, 1f), () -> t.getFlat(0), t::data,
            t::toFloatArray, () -> t.to(DType.BF16), t::copy}) {
            IllegalStateException e = assertThrows(IllegalStateException.class, access::run);
            assertTrue(e.getMessage().contains("test-device") && e.getMessage().contains("toHost"), e.getMessage());
        }
        Tensor reshaped = t.reshape(2, 12);
        assertTrue(reshaped.isOnDevice());
        assertEquals(SOMEWHERE, reshaped.deviceData());
        assertEquals(96, t.bytes());
        assertTrue(t.toString().contains("on test-device"), t.toString());
        assertFalse(Tensor.zeros(DType.F32, 2, 2).isOnDevice());
        assertThrows(IllegalStateException.class, () -> Tensor.zeros(DType.F32, 2, 2).deviceData());
    }

    @Test
    void deviceFloat8TensorKeepsItsGeometryButNotItsCodes() {
        QuantSpec spec = QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TILE_1X128, 1);
        Float8Tensor q = Float8Tensor.onDevice(SOMEWHERE, spec, DType.BF16, 3, 300);
        Float8Tensor host = new ReferenceBackend().quantize(Tensor.zeros(DType.BF16, 3, 300), spec);
        assertEquals(host.bytes(), q.bytes());
        assertEquals(host.scaleRows(), q.scaleRows());
        assertEquals(host.scaleCols(), q.scaleCols());
        IllegalStateException e = assertThrows(IllegalStateException.class, q::codes);
        assertTrue(e.getMessage().contains("test-device"), e.getMessage());
        assertThrows(IllegalStateException.class, q::scales);
        assertThrows(IllegalStateException.class, () -> q.dequantized(0, 0));
        Float8Tensor tensorwise = Float8Tensor.onDevice(SOMEWHERE,
                QuantSpec.of(Fp8Format.E4M3FN, ScalingGranularity.TENSORWISE, 1), DType.F32, 3, 4);
        Float8Tensor other = tensorwise.alongOtherAxis();
        assertTrue(other.isOnDevice());
        assertEquals(0, other.axis());
    }

    @Test
    void hostBackendsRefuseDeviceTensorsClearly() {
        Backend reference = new ReferenceBackend();
        Tensor t = Tensor.onDevice(SOMEWHERE, DType.F32, 4, 6);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> reference.toHost(t));
        assertTrue(e.getMessage().contains("test-device"), e.getMessage());
        Tensor host = Tensor.zeros(DType.F32, 4, 6);
        assertEquals(host, reference.toDevice(host));
    }

    @Test
    void aHostParameterRefusesADeviceGradient() {
        Linear layer = new Linear(6, 4);
        layer.moveTo(new ReferenceBackend());  // host backends keep parameters where they are
        assertFalse(layer.weight().value().isOnDevice());
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> layer.weight().accumulateGrad(Tensor.onDevice(SOMEWHERE, DType.F32, 4, 6)));
        assertTrue(e.getMessage().contains("moveTo"), e.getMessage());
    }
}
