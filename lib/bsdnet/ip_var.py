# IPv4 counters (BSD netinet/ip_var.h struct ipstat), shared by ip_input and ip_output.
ipstat = {
    "ips_total": 0, "ips_delivered": 0, "ips_toosmall": 0, "ips_badvers": 0, "ips_badhlen": 0,
    "ips_badsum": 0, "ips_tooshort": 0, "ips_badlen": 0, "ips_badoptions": 0, "ips_cantforward": 0,
    "ips_noproto": 0, "ips_fragments": 0, "ips_fragdropped": 0, "ips_localout": 0, "ips_noroute": 0,
    "ips_odropped": 0,
}
