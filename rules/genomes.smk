# Rules of this stage are being written.
