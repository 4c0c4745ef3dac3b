# MAC-raw SPI Ethernet drivers (w5500, enc28j60): recv_into / send / pending / link_up / counters.
