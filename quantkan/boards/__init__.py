"""Boards: a registry of board definitions, a UART bridge and board top level around the RTL learner,
the Lattice bitstream flow (yowasp), Vivado project emission, flashing and the PC-side client.

Submodules import their heavy dependencies (Amaranth, amaranth-boards, pyserial) only when used.
"""
