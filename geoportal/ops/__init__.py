"""Operations: the metrics endpoint, the nginx front of several instances, their supervisor."""
