/**
 * LoRA (Hu et al. 2021): low-rank adapters on chosen linear layers through the model's `linearHook`,
 * merged into the base weights on demand, exported as a PEFT adapter (adapter_config.json +
 * adapter_model.safetensors).
 */
export class LoraAdapter {}
