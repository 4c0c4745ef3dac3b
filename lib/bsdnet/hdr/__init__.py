# Wire formats, one module per header (FreeBSD's netinet/*.h, smoltcp's src/wire/): field offsets,
# a check() before any read, allocation-free readers over (buf, off), emit()/setters into a caller's
# buffer. The common API is described at the top of each module.
