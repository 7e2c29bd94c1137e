"""Amaranth RTL generators for quantkan (bit-exact with the NumPy golden model).

The names of the generator's schedules and pipelines live here, not beside the generator, so
code that only chooses one (a config, ``quantkan train``) does not load Amaranth."""

__all__ = ["SCHEDULES", "PIPELINES"]

#: ``pipelined`` takes a sample every cycle and lands layer l's update D_l samples late;
#: ``sequential`` takes the next sample when the last one's update has landed (D = 0).
SCHEDULES = ("pipelined", "sequential")
#: deep: a register after every carry chain and multiplier; deeper: and before each datapath x
#: datapath multiply; shallow: fewer cycles.
PIPELINES = ("deep", "deeper", "shallow")
