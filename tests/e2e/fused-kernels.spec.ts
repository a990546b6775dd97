// The fused WebGPU kernels (src/engine/kernels) against the op-by-op composition they replace: the checks of
// tests/matrix/kernel-checks.ts, one test per check, in one page of Debian's Chromium on WebGPU (SwiftShader here:
// correct and slow, so the shapes are small). Each test logs what it measured (errors, dispatch counts).
import { KERNEL_CHECK_NAMES } from '../matrix/kernel-check-names.ts';
import { describeMatrixPage } from './matrix-page.ts';

describeMatrixPage({ title: 'fused kernels on webgpu', html: 'kernels.html', api: '__kernels', checks: KERNEL_CHECK_NAMES });
