<?php
// route/app.php (add to your own)
use think\facade\Route;

Route::post('transfer', 'Transfer/create');
// dq-gateway's subscription "bank-credit" POSTs the credit service's requests here (gateway.toml).
Route::post('dq/credit', 'Credit/answer');
