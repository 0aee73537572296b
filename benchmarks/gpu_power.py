"""nvidia-smi's SM clock, board power and power-cap reason, sampled every 50 ms in the background, each sample stamped
with the host's time on arrival, so a benchmark can attribute samples to the workload that ran then."""
import subprocess
import threading
import time


def power_cap_field():
    """The name of the power-cap clock reason in this driver's nvidia-smi (renamed from throttle to event reasons)."""
    for field in ("clocks_event_reasons.sw_power_cap", "clocks_throttle_reasons.sw_power_cap"):
        if subprocess.run(["nvidia-smi", f"--query-gpu={field}", "--format=csv,noheader"],
                          capture_output=True).returncode == 0:
            return field
    raise SystemExit("nvidia-smi reports no power-cap clock reason")


class Sampler:
    def __init__(self):
        self.samples = []  # (host time, sm MHz, watts, power capped)
        self.proc = subprocess.Popen(
            ["nvidia-smi", f"--query-gpu=clocks.sm,power.draw,{power_cap_field()}",
             "--format=csv,noheader,nounits", "-lms", "50"], stdout=subprocess.PIPE, text=True, bufsize=1)
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        for line in self.proc.stdout:
            parts = [p.strip() for p in line.split(",")]
            try:
                self.samples.append((time.time(), float(parts[0]), float(parts[1]), parts[2] == "Active"))
            except (ValueError, IndexError):
                pass

    def between(self, t0, t1):
        return [s for s in self.samples if t0 <= s[0] <= t1]

    def stop(self):
        self.proc.terminate()


def summary(samples):
    """CSV fields for samples: count, mean and least SM clock (MHz), mean power (W), share at the power cap."""
    if not samples:
        return "0,,,,"
    mhz = [x[1] for x in samples]
    watts = [x[2] for x in samples]
    capped = sum(1 for x in samples if x[3]) / len(samples)
    return f"{len(samples)},{sum(mhz) / len(samples):.0f},{min(mhz):.0f},{sum(watts) / len(samples):.0f},{capped:.2f}"
