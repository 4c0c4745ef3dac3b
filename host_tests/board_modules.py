"""The portable test modules each emulated board runs (the device-side ones: no chip emulators or
TCP segment suites), shared by the board tests and the tiny-heap run (test_tiny_heap.py)."""
ESP32_SMOKE = ["test_compat.py", "test_mbuf.py", "test_hdr.py"]
ESP32_DEVICE = ["test_in_cksum.py", "test_arp.py", "test_icmp_echo.py", "test_udp.py", "test_route.py",
                "test_raw_ip.py", "test_sock_details.py", "test_tcp_seq.py"]
