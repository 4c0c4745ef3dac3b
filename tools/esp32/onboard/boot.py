# /boot.py of the emulated ESP32's image (harness only): flash blocks cached in RAM while the
# stack loads (tools/esp32/onboard/flashcache.py says why); the harness waits for the last line.
import flashcache

flashcache.on(8)
print("boot.py: flash cache on")
