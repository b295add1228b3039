{
  "https://undefined0.example": {
    "refresh_token": "gtr_undefined",
    "hosts": []
  }
}
