// uio_pci_generic and DMA: it maps no memory for the device (no IOMMU mapping, no way to
// learn a bus address), so a UIO device gets no DMA buffers; bind it to vfio-pci for DMA.
extension UIOBackend {
    private var noDMA: BackendError {
        .kernelLimit("\(device.address) is on uio_pci_generic, which maps no memory for a device's DMA (no IOMMU mapping): "
            + "bind it to vfio-pci for DMA")
    }

    public func enableDMA() throws(BackendError) { throw noDMA }

    public func allocateDMABuffer(length: Int, highestAddress: UInt64) throws(BackendError) -> DMABuffer { throw noDMA }
}
